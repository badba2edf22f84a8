// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Ask before destructive actions (forms marked data-confirm).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Copy buttons: data-copy="#input-id".
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(input.value).then(done, function () {});
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // Content tabs on the message page: show one panel at a time, keyboard
  // navigable with the arrow keys (WAI-ARIA tabs pattern).
  // Without JavaScript the panels simply follow each other and the links jump.
  var tablist = document.querySelector("[data-tablist]");
  if (tablist) {
    tablist.setAttribute("role", "tablist");
    var tabs = Array.prototype.slice.call(tablist.querySelectorAll("[data-tab]"));
    var select = function (tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.setAttribute("tabindex", on ? "0" : "-1");
        var panel = document.querySelector(t.getAttribute("href"));
        if (panel) panel.hidden = !on;
      });
      if (focus) tab.focus();
    };
    tabs.forEach(function (tab, i) {
      var panel = document.querySelector(tab.getAttribute("href"));
      tab.setAttribute("role", "tab");
      if (panel) {
        panel.setAttribute("role", "tabpanel");
        tab.id = tab.id || "tab-" + panel.id;
        tab.setAttribute("aria-controls", panel.id);
        panel.setAttribute("aria-labelledby", tab.id);
      }
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        select(tab, false);
        history.replaceState(null, "", tab.getAttribute("href"));
      });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
        if (event.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
        if (next) { event.preventDefault(); select(next, true); }
      });
    });
    var initial = tabs.filter(function (t) { return t.getAttribute("href") === location.hash; })[0];
    select(initial || tabs[0], false);
  }
})();
