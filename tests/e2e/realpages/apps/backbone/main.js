// TodoMVC with Backbone: a collection persisted to localStorage, one view per item, filtering
// by toggling a "hidden" class, routes from Backbone.Router.
import $ from "jquery";
import _ from "underscore";
import Backbone from "backbone";
import { load, save, routeFilter, pluralize } from "../common/store.js";

Backbone.$ = $;
const KEY = "todos-backbone";

const Todo = Backbone.Model.extend({
  defaults: { title: "", completed: false },
  toggle() { this.set("completed", !this.get("completed")); },
});
const Todos = Backbone.Collection.extend({
  model: Todo,
  completed() { return this.where({ completed: true }); },
  remaining() { return this.where({ completed: false }); },
});
const todos = new Todos(load(KEY));
const persist = () => save(KEY, todos.toJSON());
todos.on("add remove change reset", persist);
let filter = routeFilter(location.hash);

const itemTemplate = _.template('<div class="view"><input class="toggle" type="checkbox" <%= completed ? "checked" : "" %>>' +
  '<label><%- title %></label><button class="destroy"></button></div>');

const TodoView = Backbone.View.extend({
  tagName: "li",
  events: { "click .toggle": "toggle", "click .destroy": "clear" },
  initialize() {
    this.listenTo(this.model, "change", this.render);
    this.listenTo(this.model, "destroy remove", this.remove);
    this.listenTo(this.model, "visible", this.toggleVisible);
  },
  render() {
    this.$el.html(itemTemplate(this.model.toJSON()));
    this.$el.toggleClass("completed", this.model.get("completed"));
    this.toggleVisible();
    return this;
  },
  toggleVisible() {
    const done = this.model.get("completed");
    this.$el.toggleClass("hidden", filter === "completed" ? !done : filter === "active" ? done : false);
  },
  toggle() { this.model.toggle(); },
  clear() { todos.remove(this.model); },
});

const AppView = Backbone.View.extend({
  el: ".todoapp",
  events: {
    "keypress .new-todo": "create",
    "click .clear-completed": "clearCompleted",
    "click .toggle-all": "toggleAll",
  },
  initialize() {
    this.$input = this.$(".new-todo");
    this.$list = this.$(".todo-list");
    this.listenTo(todos, "add", this.addOne);
    this.listenTo(todos, "reset", this.addAll);
    this.listenTo(todos, "all", _.debounce(this.render, 0));
    this.listenTo(todos, "filter", this.filterAll);
    this.addAll();
    this.render();
  },
  render() {
    const done = todos.completed().length;
    const left = todos.remaining().length;
    this.$(".main, .footer").toggle(todos.length > 0);
    this.$(".todo-count").html(`<strong>${left}</strong> ${pluralize(left)} left`);
    this.$(".filters a").removeClass("selected").filter(`[href="#/${filter === "all" ? "" : filter}"]`).addClass("selected");
    this.$(".clear-completed").toggle(done > 0);
    this.$(".toggle-all").prop("checked", todos.length > 0 && left === 0);
  },
  addOne(todo) { this.$list.append(new TodoView({ model: todo }).render().el); },
  addAll() { this.$list.empty(); todos.each(this.addOne, this); },
  filterAll() { todos.each((t) => t.trigger("visible")); },
  create(e) {
    const title = this.$input.val().trim();
    if (e.which !== 13 || !title) return;
    todos.add({ title });
    this.$input.val("");
  },
  clearCompleted() { todos.remove(todos.completed()); },
  toggleAll() {
    const completed = this.$(".toggle-all").prop("checked");
    todos.each((t) => t.set("completed", completed));
  },
});

const Router = Backbone.Router.extend({
  routes: { "*filter": "setFilter" },
  setFilter(param) {
    filter = routeFilter("#" + (param || ""));
    todos.trigger("filter");
    todos.trigger("all");
  },
});

new AppView();
new Router();
Backbone.history.start();
