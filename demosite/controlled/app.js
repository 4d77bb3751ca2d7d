// A small React app with controlled inputs: the co-browsing control tests check that text
// typed, options chosen and boxes ticked through Tandem really change React's state.
// Bundled by viewer/build.mjs into demosite/controlled/build/app.js, served at /controlled.js.

import { createElement as h, useState } from "react";
import { createRoot } from "react-dom/client";

function App() {
  const [name, setName] = useState("");
  const [note, setNote] = useState("");
  const [size, setSize] = useState("m");
  const [gift, setGift] = useState(false);
  const [orders, setOrders] = useState([]);
  const submit = (ev) => {
    ev.preventDefault();
    setOrders([...orders, `${name || "anonymous"} · ${size}${gift ? " · gift" : ""}`]);
  };
  return h("form", { id: "order", className: "panel", onSubmit: submit },
    h("h1", null, "Order a custom mug"),
    h("label", { htmlFor: "name" }, "Name on the mug"),
    h("input", { id: "name", value: name, onChange: (e) => setName(e.target.value), autoComplete: "off" }),
    h("label", { htmlFor: "note" }, "Note"),
    h("textarea", { id: "note", value: note, onChange: (e) => setNote(e.target.value) }),
    h("label", { htmlFor: "size" }, "Size"),
    h("select", { id: "size", value: size, onChange: (e) => setSize(e.target.value) },
      h("option", { value: "s" }, "Small"), h("option", { value: "m" }, "Medium"), h("option", { value: "l" }, "Large")),
    h("label", null, h("input", { id: "gift", type: "checkbox", checked: gift, onChange: (e) => setGift(e.target.checked) }), " Gift wrap"),
    h("label", { htmlFor: "upload" }, "Artwork (optional)"),
    h("input", { id: "upload", type: "file" }),
    h("p", { id: "preview" }, name ? `Preview: “${name}”` : "Preview: (empty)"),
    h("p", { id: "state" }, JSON.stringify({ name, note, size, gift })),
    h("button", { className: "btn", type: "submit", id: "place" }, "Place order"),
    h("ul", { id: "orders" }, orders.map((o, i) => h("li", { key: i }, o))));
}

createRoot(document.getElementById("root")).render(h(App));
