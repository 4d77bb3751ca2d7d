// Loaded on demand with import(): its own chunk, fetched the first time /spa/about renders.

export default function About({ config }) {
  return (
    <section id="spa-about">
      <h1>About this app</h1>
      <p id="spa-lazy">This part of the app was loaded on demand.</p>
      <p>
        It talks to the shop at <code id="spa-shop-origin">{config.shop}</code> and shows pictures from{" "}
        <code>{config.cdn}</code>, URLs it builds while it runs.
      </p>
    </section>
  );
}
