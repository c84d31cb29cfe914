/* civicgrid: ask before a step that cannot be undone.
 *
 * A submit button with data-confirm="question" (and data-confirm-yes / data-confirm-no for the
 * two answers) opens a modal <dialog> instead of sending its form. "Yes" sends the form with
 * that button; "No", Escape or a click outside closes the dialog and nothing is sent. Focus
 * starts on "No" (the safe answer) and returns to the button afterwards.
 */
(function () {
  "use strict";

  var dialog = null;

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-dialog-text");
    dialog.innerHTML =
      '<p id="confirm-dialog-text" class="confirm-text"></p>' +
      '<div class="confirm-actions">' +
      '<button type="button" class="danger" data-answer="yes"></button>' +
      '<button type="button" data-answer="no"></button></div>';
    document.body.appendChild(dialog);
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog) dialog.close("no"); // the backdrop
    });
    return dialog;
  }

  function ask(button, onYes) {
    var box = dialog || build();
    box.querySelector(".confirm-text").textContent = button.dataset.confirm;
    var yes = box.querySelector("[data-answer=yes]");
    var no = box.querySelector("[data-answer=no]");
    yes.textContent = button.dataset.confirmYes || button.textContent;
    no.textContent = button.dataset.confirmNo || "×";
    yes.onclick = function () { box.close("yes"); };
    no.onclick = function () { box.close("no"); };
    box.onclose = function () {
      if (box.returnValue === "yes") onYes();
      else button.focus();
    };
    box.returnValue = "";
    box.showModal();
    no.focus();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    if (!button || !button.dataset.confirm) return;
    if (form.dataset.confirmed === "1") return;
    event.preventDefault();
    ask(button, function () {
      form.dataset.confirmed = "1";
      form.requestSubmit(button);
    });
  });
})();
