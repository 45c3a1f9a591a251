(function () {
  "use strict";
  var selects = document.querySelectorAll("select[data-filter]");
  var items = document.querySelectorAll("[data-finding]");
  var shown = document.getElementById("filter-count");
  function apply() {
    var wanted = {};
    selects.forEach(function (s) { wanted[s.getAttribute("data-filter")] = s.value; });
    var count = 0;
    items.forEach(function (item) {
      var visible = Object.keys(wanted).every(function (key) {
        var value = item.getAttribute("data-" + key);
        return wanted[key] === "" || value === null || value === wanted[key];
      });
      item.hidden = !visible;
      if (visible && item.classList.contains("finding")) { count += 1; }
    });
    shown.textContent = String(count);
  }
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  document.getElementById("filters").hidden = false;
  apply();
})();
