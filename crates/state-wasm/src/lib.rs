//! WebAssembly bindings of state-core.
