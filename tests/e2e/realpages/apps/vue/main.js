// TodoMVC with Vue 3: the full build compiles the template in the browser (as the Vue TodoMVC
// example does); state in reactive data, persisted by a deep watcher, filter from the hash.
import { createApp } from "vue/dist/vue.esm-bundler.js";
import { load, save, routeFilter, pluralize } from "../common/store.js";

const KEY = "todos-vue";
const filters = {
  all: (todos) => todos,
  active: (todos) => todos.filter((t) => !t.completed),
  completed: (todos) => todos.filter((t) => t.completed),
};

createApp({
  template: `
  <header class="header">
    <h1>todos</h1>
    <input class="new-todo" autofocus placeholder="What needs to be done?" @keyup.enter="add">
  </header>
  <section class="main" v-show="todos.length">
    <input id="toggle-all" class="toggle-all" type="checkbox" :checked="remaining === 0" @change="toggleAll">
    <label for="toggle-all">Mark all as complete</label>
    <ul class="todo-list">
      <li v-for="todo in filtered" class="todo" :key="todo.id" :class="{ completed: todo.completed }">
        <div class="view">
          <input class="toggle" type="checkbox" v-model="todo.completed">
          <label>{{ todo.title }}</label>
          <button class="destroy" @click="remove(todo)"></button>
        </div>
      </li>
    </ul>
  </section>
  <footer class="footer" v-show="todos.length">
    <span class="todo-count"><strong>{{ remaining }}</strong> {{ pluralize(remaining) }} left</span>
    <ul class="filters">
      <li><a href="#/" :class="{ selected: visibility === 'all' }">All</a></li>
      <li><a href="#/active" :class="{ selected: visibility === 'active' }">Active</a></li>
      <li><a href="#/completed" :class="{ selected: visibility === 'completed' }">Completed</a></li>
    </ul>
    <button class="clear-completed" @click="clearCompleted" v-show="todos.length > remaining">Clear completed</button>
  </footer>`,
  data() {
    return {
      todos: load(KEY).map((t, id) => ({ ...t, id })),
      visibility: routeFilter(location.hash),
    };
  },
  computed: {
    filtered() { return filters[this.visibility](this.todos); },
    remaining() { return filters.active(this.todos).length; },
  },
  watch: {
    todos: { handler(todos) { save(KEY, todos); }, deep: true },
  },
  mounted() {
    window.addEventListener("hashchange", () => { this.visibility = routeFilter(location.hash); });
  },
  methods: {
    pluralize,
    add(e) {
      const title = e.target.value.trim();
      if (!title) return;
      this.todos.push({ id: Date.now() + this.todos.length, title, completed: false });
      e.target.value = "";
    },
    remove(todo) { this.todos.splice(this.todos.indexOf(todo), 1); },
    toggleAll(e) { this.todos.forEach((t) => { t.completed = e.target.checked; }); },
    clearCompleted() { this.todos = filters.active(this.todos); },
  },
}).mount("#app");
