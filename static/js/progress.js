// Run-now without a page reload: post the form, then poll the schedule until it is idle.
(function () {
  "use strict";
  function render(row, s) {
    row.querySelector('[data-field="state"]').textContent = s.state;
    // The server formats times in the user's time zone, as the page does.
    row.querySelector('[data-field="last"]').textContent = s.last_run_shown + " " + (s.last_outcome || "");
    row.querySelector('[data-field="next"]').textContent = s.next_run_shown;
  }
  function poll(row, rounds) {
    fetch(row.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        render(row, s);
        if (s.state !== "idle" && rounds > 0) { setTimeout(function () { poll(row, rounds - 1); }, 1500); }
      });
  }
  document.querySelectorAll("form.run-now").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var row = form.closest("tr");
      fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) { render(row, s); poll(row, 60); });
    });
  });
})();
