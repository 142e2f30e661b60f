/* Credit Lifecycle Portal: tiny glue for htmx 2 + Bootstrap 5.3. Loaded with `defer` after htmx. */
(function () {
  "use strict";

  if (window.htmx) {
    // 204: nothing to swap. 2xx/3xx: swap. 422: swap (a form re-rendered with inline errors).
    // Other 4xx/5xx: do not swap; raise htmx:responseError (handled below).
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "422", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }

  function flashArea() {
    return document.getElementById("flash-area");
  }

  // Show a dismissible Bootstrap alert at the top of #flash-area. Text only (never HTML from the server).
  function showAlert(text, category) {
    var area = flashArea();
    if (!area) { return; }
    var alert = document.createElement("div");
    alert.className = "alert alert-" + (category || "danger") + " alert-dismissible fade show";
    alert.setAttribute("role", "alert");
    alert.dataset.clientAlert = "true";
    var span = document.createElement("span");
    span.textContent = text;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "btn-close";
    close.setAttribute("data-bs-dismiss", "alert");
    close.setAttribute("aria-label", "Close");
    alert.appendChild(span);
    alert.appendChild(close);
    // Replace an earlier client-side alert with the same text instead of stacking duplicates.
    area.querySelectorAll("[data-client-alert]").forEach(function (el) {
      if (el.firstChild && el.firstChild.textContent === text) { el.remove(); }
    });
    area.prepend(alert);
    var rect = area.getBoundingClientRect();
    if (rect.top < 0 || rect.top > window.innerHeight) {
      area.scrollIntoView({ block: "start", behavior: "smooth" });
    }
  }

  // If the server sent templates/errors/_error_fragment.html, use its message text.
  function messageFrom(xhr) {
    try {
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (type.indexOf("text/html") === -1 || !xhr.responseText) { return ""; }
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var node = doc.getElementById("error-fragment");
      var msg = node ? node.querySelector("[data-message]") || node : null;
      return msg ? msg.textContent.replace(/\s+/g, " ").trim() : "";
    } catch (e) {
      return "";
    }
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    var status = xhr ? xhr.status : "";
    var detail = xhr ? messageFrom(xhr) : "";
    var text = "Something went wrong (" + status + ")";
    showAlert(detail ? text + ": " + detail : text + ".", status >= 500 ? "danger" : "warning");
  });

  document.addEventListener("htmx:sendError", function () {
    showAlert("Could not reach the server. Check your connection and try again.", "warning");
  });

  document.addEventListener("htmx:timeout", function () {
    showAlert("The server took too long to answer. Please try again.", "warning");
  });

  window.portal = { showAlert: showAlert };
})();
