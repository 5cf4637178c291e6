//! The Pullpiri StateManager daemon.
