/* civicgrid report page: the error summary's links move focus to the field they name.
 *
 * The summary itself (role=alert, autofocus) takes focus when the page comes back with errors.
 * A link names a field's id; when that element cannot take focus (a fieldset, a group label, the
 * category <select> the picker replaced) the first control inside its field that can is focused.
 */
(function () {
  "use strict";

  var FOCUSABLE = "input:not([type=hidden]):not([tabindex='-1']), select:not([tabindex='-1']), " +
    "textarea, button, [tabindex]:not([tabindex='-1']), a[href]";

  function visible(el) {
    return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
      el.getAttribute("aria-hidden") !== "true" && !el.closest("[hidden]");
  }

  function target(id) {
    var el = document.getElementById(id);
    if (!el) return null;
    if (el.matches(FOCUSABLE) && visible(el)) return el;
    var box = el.closest(".field, fieldset") || el;
    var found = Array.prototype.slice.call(box.querySelectorAll(FOCUSABLE)).filter(visible);
    return found[0] || null;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-error-summary] a[href^='#']");
    if (!link) return;
    var el = target(link.getAttribute("href").slice(1));
    if (!el) return;
    event.preventDefault();
    var holder = el.closest(".field, fieldset") || el;
    holder.scrollIntoView({ block: "start" });
    el.focus({ preventScroll: true });
  });

  var summary = document.querySelector("[data-error-summary]");
  if (summary && document.activeElement !== summary) summary.focus();
})();
