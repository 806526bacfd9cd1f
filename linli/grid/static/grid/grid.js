// Location from the browser (WGS-84, as the grids are drawn) into the hidden lon/lat inputs of a form, asked
// once when the page opens and again on the button; without it the page keeps the manual grid choice.
(function () {
  "use strict";
  function setup(box) {
    var form = box.closest("form");
    var lon = form.querySelector("input[name=lon]");
    var lat = form.querySelector("input[name=lat]");
    var accuracy = form.querySelector("input[name=accuracy]");
    var status = box.querySelector("[data-geo-status]");
    var button = box.querySelector("[data-geo-locate]");
    function say(key, extra) {
      status.textContent = status.getAttribute("data-text-" + key) + (extra || "");
      status.className = "small " + (key === "found" ? "text-success" : key === "waiting" ? "text-body-secondary" : "text-danger");
      status.setAttribute("data-state", key);
    }
    function locate() {
      if (!navigator.geolocation) {
      say("unsupported");
      var fallback = form.querySelector("[data-geo-fallback]");
      if (fallback) { fallback.open = true; }
      return;
    }
      say("waiting");
      navigator.geolocation.getCurrentPosition(function (position) {
        lon.value = position.coords.longitude.toFixed(7);
        lat.value = position.coords.latitude.toFixed(7);
        if (accuracy) { accuracy.value = Math.round(position.coords.accuracy || 0); }
        say("found", position.coords.accuracy ? " (±" + Math.round(position.coords.accuracy) + " m)" : "");
      }, function () {
        say("failed");
        var fallback = form.querySelector("[data-geo-fallback]");
        if (fallback) { fallback.open = true; }
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    }
    if (button) { button.addEventListener("click", locate); }
    if (!lon.value) { locate(); }
  }
  document.querySelectorAll("[data-geo]").forEach(setup);
  document.querySelectorAll("input[type=file][accept^=image]").forEach(function (input) {
    var count = input.closest(".mb-3") && input.closest(".mb-3").querySelector("[data-photo-count]");
    if (!count) { return; }
    input.addEventListener("change", function () {
      count.textContent = Array.prototype.map.call(input.files, function (f) { return f.name; }).join(", ");
    });
  });
}());
