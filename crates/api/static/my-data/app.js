// The "My data" page, made live: while an export is on its way, its progress is
// fetched from /account/data/status and the list redrawn. Everything works without
// this script (the forms post and the page reloads); it only saves the reloading.
(function () {
  'use strict';
  document.documentElement.className += ' js';
  var body = document.body;
  var url = body.getAttribute('data-status');
  var region = document.getElementById('exports');
  if (!url || !region) {
    return;
  }
  var every = 1000;
  var timer = null;

  function later(ms) {
    if (timer !== null) {
      clearTimeout(timer);
    }
    timer = setTimeout(poll, ms);
  }

  function poll() {
    timer = null;
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401) {
          // Signed out elsewhere: show the sign-in form.
          window.location.reload();
          return null;
        }
        if (!response.ok) {
          throw new Error('status ' + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (!data) {
          return;
        }
        if (typeof data.html === 'string' && region.innerHTML !== data.html) {
          region.innerHTML = data.html;
        }
        body.setAttribute('data-active', data.active ? 'true' : 'false');
        if (data.active) {
          later(every);
        }
      })
      .catch(function () {
        // The server may be restarting: try again, less often.
        later(5000);
      });
  }

  if (body.getAttribute('data-active') === 'true') {
    later(every);
  }
  // A tab that comes back after a while shows fresh news at once.
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) {
      later(0);
    }
  });
})();
