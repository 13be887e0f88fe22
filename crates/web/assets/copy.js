// A "Copy" button after every `.copyable` value (webhook URLs, invitation links, new keys and
// secrets), so nobody has to select a long token by hand. Without JavaScript the value stays
// selectable in one click (`user-select: all`).
(function () {
  "use strict";
  if (!navigator.clipboard) return;
  document.querySelectorAll(".copyable").forEach(function (el) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-small copy-button";
    button.textContent = "Copy";
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(el.textContent.trim()).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      }, function () { button.textContent = "Select and copy"; });
    });
    el.insertAdjacentElement("afterend", button);
  });
})();
