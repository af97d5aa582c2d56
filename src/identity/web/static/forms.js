// Form helpers, as progressive enhancement: without this script every form still works.
// Loaded with <script src defer> (the CSP allows no inline script).
(function () {
  "use strict";

  // A "Show" toggle next to each password field. Its words come from the page, in the
  // page's language: data-reveal-text on screen, data-reveal-label as its accessible name.
  // Both stay the same; aria-pressed says whether the password is shown, so a screen reader
  // hears "Show password, toggle button, pressed".
  document.querySelectorAll(".password-field").forEach(function (wrapper) {
    var input = wrapper.querySelector("input");
    if (!input || wrapper.querySelector("button")) return;
    var button = document.createElement("button");
    button.type = "button";
    button.className = "reveal secondary small";
    var label = wrapper.getAttribute("data-reveal-label") || "Show password";
    button.textContent = wrapper.getAttribute("data-reveal-text") || label;
    button.setAttribute("aria-label", label);
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-controls", input.id);
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
    });
    // Submitting with the password shown would let the browser offer to save it as text.
    if (input.form) {
      input.form.addEventListener("submit", function () {
        input.type = "password";
        button.setAttribute("aria-pressed", "false");
      });
    }
    wrapper.appendChild(button);
    wrapper.classList.add("enhanced");
  });

  // Links that carry what was typed (e.g. "Forgot your password?" keeps the email).
  document.querySelectorAll("a[data-carry-email]").forEach(function (link) {
    var field = document.getElementById(link.getAttribute("data-carry-email"));
    if (!field) return;
    var update = function () {
      var url = new URL(link.href, window.location.href);
      url.searchParams.set("email", field.value.trim());
      link.href = url.pathname + url.search;
    };
    field.addEventListener("input", update);
  });
})();
