// The demo shop's single-page app (/spa/): React from npm, bundled by viewer/build.mjs.
// It does what real SPAs do and what a co-browsing proxy must survive: routes with
// pushState, fetches JSON from an absolute URL built at run time, renders images from
// the CDN origin named in that JSON, lazy-loads a module with import(), and registers
// a service worker that precaches the shell and serves the API when offline.

import { Suspense, lazy, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { Link, usePath } from "./router.js";

const config = JSON.parse(document.querySelector('meta[name="spa-config"]').content);
const About = lazy(() => import("./About.jsx"));

function useProducts() {
  const [state, setState] = useState({ products: null, error: null });
  useEffect(() => {
    // An absolute URL built at run time: only the runtime can send it through the proxy.
    fetch(`${config.shop}/api/products`)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((json) => setState({ products: json.products, error: null }))
      .catch((err) => setState({ products: null, error: String(err.message || err) }));
  }, []);
  return state;
}

function ProductList({ products }) {
  return (
    <ul className="spa-grid" id="spa-products">
      {products.map((p) => (
        <li key={p.id} className="spa-card" data-product-id={p.id}>
          <Link to={`/spa/products/${p.id}`} className="spa-card-link">
            <img src={p.image} alt="" width="120" height="120" />
            <span className="spa-name">{p.name}</span>
            <span className="spa-price">{p.price}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

function Product({ product }) {
  if (!product) return <p id="spa-missing">No such product.</p>;
  return (
    <article id="spa-product" data-product-id={product.id}>
      <img src={product.image} alt="" width="200" height="200" />
      <h1>{product.name}</h1>
      <p className="spa-price">{product.price}</p>
      <p>{product.blurb}</p>
      <p>
        <a href={product.url}>Open the shop's own page</a> · <Link to="/spa/">Back to the list</Link>
      </p>
    </article>
  );
}

function ServiceWorkerStatus() {
  const [status, setStatus] = useState("not supported");
  useEffect(() => {
    if (!("serviceWorker" in navigator)) return;
    setStatus("registering");
    navigator.serviceWorker
      .register("/spa/sw.js", { scope: "/spa/" })
      .then((reg) => {
        const sw = reg.installing || reg.waiting || reg.active;
        const show = () => setStatus(sw.state + (navigator.serviceWorker.controller ? ", controlling this page" : ""));
        show();
        sw.addEventListener("statechange", show);
        navigator.serviceWorker.addEventListener("controllerchange", show);
      })
      .catch((err) => setStatus(`failed: ${err.message}`));
  }, []);
  return <p className="spa-sw">Service worker: <span id="spa-sw-status">{status}</span></p>;
}

function App() {
  const path = usePath();
  const { products, error } = useProducts();
  const match = /^\/spa\/products\/(\d+)$/.exec(path);
  let page;
  if (error) page = <p id="spa-error">Could not load products: {error}</p>;
  else if (!products) page = <p id="spa-loading">Loading products…</p>;
  else if (match) page = <Product product={products.find((p) => p.id === Number(match[1]))} />;
  else if (path === "/spa/about") page = (
    <Suspense fallback={<p>Loading…</p>}>
      <About config={config} />
    </Suspense>
  );
  else page = <ProductList products={products} />;
  return (
    <>
      <nav className="spa-nav" aria-label="App">
        <Link to="/spa/" id="spa-home">Products</Link>
        <Link to="/spa/about" id="spa-about-link">About this app</Link>
        <a href="/">Back to the shop</a>
      </nav>
      <p className="spa-route">Route: <code id="spa-route">{path}</code></p>
      {page}
      <ServiceWorkerStatus />
    </>
  );
}

createRoot(document.getElementById("root")).render(<App />);
