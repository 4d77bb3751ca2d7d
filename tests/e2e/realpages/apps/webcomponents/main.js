// TodoMVC with plain custom elements and no library: <todo-app> renders into an open shadow root
// that links the page's stylesheet; its footer is <todo-footer>, a second custom element with a
// shadow root of its own, styled by a constructed stylesheet (adoptedStyleSheets) and driven by
// observed attributes; it asks for "clear completed" with a composed custom event.
import { load, save, routeFilter, pluralize } from "../common/store.js";

const KEY = "todos-webcomponents";
const FOOTER_CSS = `
  :host { display: block; padding: 10px 15px; height: 20px; text-align: center; font-size: 15px; border-top: 1px solid #e6e6e6; }
  :host([total="0"]) { display: none; }
  .todo-count { float: left; text-align: left; }
  .filters { margin: 0; padding: 0; list-style: none; position: absolute; right: 0; left: 0; }
  .filters li { display: inline; }
  .filters a { color: inherit; margin: 3px; padding: 3px 7px; text-decoration: none; border: 1px solid transparent; border-radius: 3px; }
  .filters a.selected { border-color: #ce4646; }
  .clear-completed { float: right; position: relative; border: 0; background: none; font: inherit; cursor: pointer; }
  .clear-completed[hidden] { display: none; }`;

class TodoFooter extends HTMLElement {
  static observedAttributes = ["remaining", "total", "filter"];

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(FOOTER_CSS);
    root.adoptedStyleSheets = [sheet];
    root.innerHTML = `<span class="todo-count"></span>
      <ul class="filters"><li><a href="#/">All</a></li><li><a href="#/active">Active</a></li><li><a href="#/completed">Completed</a></li></ul>
      <button class="clear-completed">Clear completed</button>`;
    root.querySelector(".clear-completed").addEventListener("click", () =>
      this.dispatchEvent(new CustomEvent("clear-completed", { bubbles: true, composed: true })));
  }

  attributeChangedCallback() {
    const root = this.shadowRoot;
    const remaining = Number(this.getAttribute("remaining") || 0);
    const total = Number(this.getAttribute("total") || 0);
    const filter = this.getAttribute("filter") || "all";
    const count = root.querySelector(".todo-count");
    count.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = String(remaining);
    count.append(strong, ` ${pluralize(remaining)} left`);
    for (const a of root.querySelectorAll(".filters a")) a.classList.toggle("selected", routeFilter(a.getAttribute("href")) === filter);
    root.querySelector(".clear-completed").hidden = total - remaining === 0;
  }
}

class TodoApp extends HTMLElement {
  constructor() {
    super();
    this.todos = load(KEY);
    this.filter = routeFilter(location.hash);
    const root = this.attachShadow({ mode: "open" });
    const css = document.querySelector('link[rel="stylesheet"]');
    root.innerHTML = `<link rel="stylesheet" href="${css ? css.href : ""}">
      <section class="todoapp">
        <header class="header"><h1>todos</h1><input class="new-todo" placeholder="What needs to be done?" autofocus></header>
        <section class="main"><input id="toggle-all" class="toggle-all" type="checkbox"><label for="toggle-all">Mark all as complete</label>
          <ul class="todo-list"></ul></section>
        <todo-footer></todo-footer>
      </section>`;
    this.list = root.querySelector(".todo-list");
    this.footer = root.querySelector("todo-footer");
    root.querySelector(".new-todo").addEventListener("keydown", (e) => {
      const title = e.target.value.trim();
      if (e.key !== "Enter" || !title) return;
      this.todos.push({ title, completed: false });
      e.target.value = "";
      this.render();
    });
    root.querySelector("#toggle-all").addEventListener("change", (e) => {
      this.todos.forEach((t) => { t.completed = e.target.checked; });
      this.render();
    });
    this.list.addEventListener("change", (e) => {
      if (!e.target.classList.contains("toggle")) return;
      this.todos[Number(e.target.closest("li").dataset.index)].completed = e.target.checked;
      this.render();
    });
    this.list.addEventListener("click", (e) => {
      if (!e.target.classList.contains("destroy")) return;
      this.todos.splice(Number(e.target.closest("li").dataset.index), 1);
      this.render();
    });
    this.addEventListener("clear-completed", () => {
      this.todos = this.todos.filter((t) => !t.completed);
      this.render();
    });
    this.onHash = () => { this.filter = routeFilter(location.hash); this.render(); };
  }

  connectedCallback() {
    window.addEventListener("hashchange", this.onHash);
    this.render();
  }

  disconnectedCallback() {
    window.removeEventListener("hashchange", this.onHash);
  }

  render() {
    this.list.replaceChildren(...this.todos.flatMap((todo, i) => {
      if (this.filter !== "all" && todo.completed !== (this.filter === "completed")) return [];
      const li = document.createElement("li");
      li.dataset.index = String(i);
      li.classList.toggle("completed", todo.completed);
      li.innerHTML = '<div class="view"><input class="toggle" type="checkbox"><label></label><button class="destroy"></button></div>';
      li.querySelector(".toggle").checked = todo.completed;
      li.querySelector("label").textContent = todo.title;
      return [li];
    }));
    const remaining = this.todos.filter((t) => !t.completed).length;
    this.shadowRoot.querySelector(".main").hidden = this.todos.length === 0;
    this.shadowRoot.querySelector("#toggle-all").checked = this.todos.length > 0 && remaining === 0;
    this.footer.setAttribute("remaining", String(remaining));
    this.footer.setAttribute("total", String(this.todos.length));
    this.footer.setAttribute("filter", this.filter);
    save(KEY, this.todos);
  }
}

customElements.define("todo-footer", TodoFooter);
customElements.define("todo-app", TodoApp);
