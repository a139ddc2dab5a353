// Starts Swagger UI on /docs. A file of its own, not an inline <script>, so the page's
// Content-Security-Policy can say script-src 'self'. No validator badge: it would call an outside host.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
