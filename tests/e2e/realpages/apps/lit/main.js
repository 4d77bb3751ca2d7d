// TodoMVC with Lit: one LitElement in a shadow root, its styles adopted as a constructed
// stylesheet (Lit's static styles), state in reactive properties persisted to localStorage.
import { LitElement, html, css, unsafeCSS } from "lit";
import { classMap } from "lit/directives/class-map.js";
import { repeat } from "lit/directives/repeat.js";
import sheet from "../common/todo.css";
import { load, save, routeFilter, pluralize } from "../common/store.js";

const KEY = "todos-lit";

class TodoApp extends LitElement {
  static properties = { todos: { state: true }, filter: { state: true } };
  static styles = [unsafeCSS(sheet), css`:host { display: block; }`];

  constructor() {
    super();
    this.todos = load(KEY).map((t, id) => ({ ...t, id }));
    this.filter = routeFilter(location.hash);
    this.nextId = this.todos.length;
    this.onHash = () => { this.filter = routeFilter(location.hash); };
  }

  connectedCallback() {
    super.connectedCallback();
    window.addEventListener("hashchange", this.onHash);
  }

  disconnectedCallback() {
    window.removeEventListener("hashchange", this.onHash);
    super.disconnectedCallback();
  }

  update(changed) {
    if (changed.has("todos")) save(KEY, this.todos);
    super.update(changed);
  }

  set(todos) { this.todos = todos; }

  add(e) {
    if (e.key !== "Enter") return;
    const title = e.target.value.trim();
    if (!title) return;
    this.set([...this.todos, { id: this.nextId++, title, completed: false }]);
    e.target.value = "";
  }

  toggle(todo) { this.set(this.todos.map((t) => (t === todo ? { ...t, completed: !t.completed } : t))); }
  remove(todo) { this.set(this.todos.filter((t) => t !== todo)); }

  render() {
    const remaining = this.todos.filter((t) => !t.completed).length;
    const shown = this.filter === "all" ? this.todos : this.todos.filter((t) => t.completed === (this.filter === "completed"));
    const link = (name, href, label) => html`<li><a href=${href} class=${classMap({ selected: this.filter === name })}>${label}</a></li>`;
    return html`<section class="todoapp">
      <header class="header">
        <h1>todos</h1>
        <input class="new-todo" placeholder="What needs to be done?" autofocus @keyup=${this.add}>
      </header>
      ${this.todos.length ? html`
        <section class="main">
          <input id="toggle-all" class="toggle-all" type="checkbox" .checked=${remaining === 0}
            @change=${(e) => this.set(this.todos.map((t) => ({ ...t, completed: e.target.checked })))}>
          <label for="toggle-all">Mark all as complete</label>
          <ul class="todo-list">
            ${repeat(shown, (t) => t.id, (t) => html`
              <li class=${classMap({ completed: t.completed })}>
                <div class="view">
                  <input class="toggle" type="checkbox" .checked=${t.completed} @change=${() => this.toggle(t)}>
                  <label>${t.title}</label>
                  <button class="destroy" @click=${() => this.remove(t)}></button>
                </div>
              </li>`)}
          </ul>
        </section>
        <footer class="footer">
          <span class="todo-count"><strong>${remaining}</strong> ${pluralize(remaining)} left</span>
          <ul class="filters">${link("all", "#/", "All")}${link("active", "#/active", "Active")}${link("completed", "#/completed", "Completed")}</ul>
          ${this.todos.length > remaining ? html`<button class="clear-completed"
            @click=${() => this.set(this.todos.filter((t) => !t.completed))}>Clear completed</button>` : ""}
        </footer>` : ""}
    </section>`;
  }
}

customElements.define("todo-app", TodoApp);
