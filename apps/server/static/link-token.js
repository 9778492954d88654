// The pages that a mailed link opens (/account/verify-email, /account/reset-password): the
// link carries its token in the fragment, which browsers never send to a server, so it reaches
// no access log and no Referer. This moves it into the form's field and drops it from the
// address bar and the history. Without JavaScript the field is typed or pasted by hand.
(function () {
  "use strict";
  var match = /^#token=([A-Za-z0-9_-]{43})$/.exec(window.location.hash);
  if (!match) {
    return;
  }
  var field = document.getElementById("token");
  if (field) {
    field.value = match[1];
  }
  window.history.replaceState(null, "", window.location.pathname);
})();
