// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Move focus to the error summary after a failed submit, as GOV.UK does, so keyboard and
  // screen-reader users land on the list of problems.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) {
    summary.focus();
  }
  // Links in the error summary move focus to the control, not just scroll to it.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary__list a[href^='#']");
    if (!link) {
      return;
    }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) {
      return;
    }
    var control = target.matches("input, select, textarea, button")
      ? target
      : target.querySelector("input, select, textarea, button");
    if (control) {
      event.preventDefault();
      target.scrollIntoView();
      control.focus({ preventScroll: true });
    }
  });
})();
