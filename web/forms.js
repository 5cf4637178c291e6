// Errors said where they happen: a name is checked by state-core (wasm `validateName`) as it
// is typed and the reason shown beside the field; an action the form sends that is refused is
// explained in the form, not only in the footer.

let ids = 0;

/// The message box of `form` (created on first use), read by screen readers as it changes.
function messageOf(form) {
  let box = form.querySelector(':scope > .field-error');
  if (!box) {
    box = document.createElement('span');
    box.className = 'field-error';
    box.id = `field-error-${++ids}`;
    box.setAttribute('role', 'status');
    form.append(box);
  }
  return box;
}

function show(form, input, message) {
  const box = messageOf(form);
  box.textContent = message ?? '';
  if (input) {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    input.setAttribute('aria-describedby', box.id);
  }
}

/// Checks `input` as a name of `kind` on every change (`toName` turns what is typed into the
/// name checked, e.g. a container suffix into `{model}_{suffix}`); an empty field is not an
/// error. `list`: the field holds several names separated by commas or spaces.
export function nameField(input, kind, core, toName = (v) => v, { list = false } = {}) {
  const check = () => {
    const text = input.value.trim();
    const names = list ? text.split(/[\s,]+/).filter(Boolean) : text ? [text] : [];
    for (const n of names) {
      try {
        core.validateName(kind, toName(n));
      } catch (e) {
        show(input.form, input, e.message);
        return;
      }
    }
    show(input.form, input, '');
  };
  input.addEventListener('input', check);
  return check;
}

/// Shows in `form` why the action it sent was refused (`err`, an `Error` or null). Returns true
/// when the action went through.
export function formResult(form, err) {
  const invalid = form.querySelector('[aria-invalid=true]');
  if (err) {
    show(form, invalid, `refused: ${err.message}`);
    (invalid ?? form.querySelector('input'))?.focus();
    return false;
  }
  show(form, null, '');
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  return true;
}
