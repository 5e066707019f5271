// Mahavishnu dashboard: search as you type, and a confirmation before a delete.
// Served from the package (no CDN); the Content-Security-Policy allows only this file to run.
"use strict";

(function () {
  function debounce(fn, ms) {
    let timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function searchAsYouType(form) {
    const target = document.getElementById("hits");
    if (!target) return;
    let asked = 0;
    const run = debounce(function () {
      const params = new URLSearchParams(new FormData(form));
      for (const [key, value] of Array.from(params.entries())) {
        if (!value) params.delete(key);
      }
      const ticket = ++asked;
      fetch(form.dataset.hits + "?" + params.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          if (ticket !== asked) return; // an older answer arriving late
          target.innerHTML = html; // server-rendered, every value escaped
          history.replaceState(null, "", "/memory?" + params.toString());
        });
    }, 150);
    form.addEventListener("input", run);
    form.addEventListener("change", run);
    form.addEventListener("submit", function (event) { event.preventDefault(); run(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("search");
    if (form) searchAsYouType(form);
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (event) {
        if (!window.confirm(f.dataset.confirm)) event.preventDefault();
      });
    });
  });
})();
