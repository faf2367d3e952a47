// The language switch in the top bar submits itself (no inline handler: the CSP allows scripts from files only).
document.addEventListener('change', (event) => {
  if (event.target.matches('form.lang select[name="language"]')) event.target.form.submit();
});
