// Demo shop: an external same-origin script, so proxies must serve and run it too.
(function () {
  var status = document.getElementById("js-status");
  if (status) { status.textContent = "JavaScript on"; }
  document.documentElement.setAttribute("data-js", "on");
})();
