// Instant quote: re-price the configuration as the customer changes it,
// through the JSON API. Without JavaScript the "Get price" button does the same.
(function () {
  var form = document.getElementById("configure");
  var panel = document.getElementById("quote");
  if (!form || !panel) return;
  var product = form.getAttribute("data-product");
  var timer = null;
  function money(v, cur) { return (v / 100).toFixed(2) + " " + cur; }
  function text(tag, s, cls) { var e = document.createElement(tag); e.textContent = s; if (cls) e.className = cls; return e; }
  function render(q) {
    panel.replaceChildren(text("h2", "Your price"),
      text("p", money(q.unit_price, q.currency) + " per part", "price"),
      text("p", "Total " + money(q.total, q.currency) + " · ready in " + q.lead_days + " working days"));
    (q.breaks || []).forEach(function (b) { panel.appendChild(text("p", b.quantity + "+ : " + money(b.unit_price, q.currency), "muted")); });
    panel.appendChild(text("p", "Price list version " + q.price_list_version + ". The binding price is confirmed after you order.", "muted"));
  }
  function problem(p) {
    panel.replaceChildren(text("h2", "Instant quote"));
    var errs = p.errors || {};
    var keys = Object.keys(errs);
    if (keys.length === 0) panel.appendChild(text("p", p.detail || "No price available.", "field-error"));
    var names = { "options.material": "Material", "options.finish": "Finish", "options.width_mm": "Width", "options.height_mm": "Height",
      "options.thickness_mm": "Thickness", quantity: "Quantity", lead: "Lead time", product: "Product" };
    keys.forEach(function (k) { panel.appendChild(text("p", (names[k] || "This part") + ": " + errs[k], "field-error")); });
  }
  function quote() {
    var fd = new FormData(form);
    var opts = {};
    ["material", "finish", "width_mm", "height_mm", "thickness_mm"].forEach(function (k) { if (fd.get(k)) opts[k] = String(fd.get(k)); });
    // A field being typed is often empty for a moment: ask for a price only
    // once every dimension and the quantity are there.
    var missing = ["width_mm", "height_mm", "thickness_mm", "quantity"].filter(function (k) { return !String(fd.get(k) || "").trim(); });
    if (missing.length > 0) {
      panel.replaceChildren(text("h2", "Instant quote"), text("p", "Enter the dimensions and the quantity to see the price.", "muted"));
      return;
    }
    var body = { product: product, options: opts, quantity: parseInt(fd.get("quantity"), 10) || 0, lead: String(fd.get("lead") || "standard") };
    fetch("/shop/api/v1/quotes", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (r) { if (r.ok) render(r.j); else problem(r.j); })
      .catch(function () {});
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(quote, 250); });
})();
