// TodoMVC with jQuery: the DOM is the view, the list in localStorage the model; filters show and
// hide rows with .css() / .toggle(), as jQuery code in the wild does.
import $ from "jquery";
import { load, save, routeFilter, pluralize } from "../common/store.js";

const KEY = "todos-jquery";
let todos = load(KEY);

function row(todo, index) {
  const $li = $("<li>").attr("data-index", index).toggleClass("completed", todo.completed);
  const $view = $('<div class="view">');
  $view.append($('<input class="toggle" type="checkbox">').prop("checked", todo.completed));
  $view.append($("<label>").text(todo.title));
  $view.append('<button class="destroy"></button>');
  return $li.append($view);
}

function render() {
  const filter = routeFilter(location.hash);
  const $list = $(".todo-list").empty();
  todos.forEach((todo, i) => {
    const $li = row(todo, i);
    const shown = filter === "all" || (filter === "completed") === todo.completed;
    $li.css("display", shown ? "" : "none");
    $list.append($li);
  });
  const left = todos.filter((t) => !t.completed).length;
  $(".main, .footer").toggle(todos.length > 0);
  $(".todo-count").html(`<strong>${left}</strong> ${pluralize(left)} left`);
  $(".filters a").removeClass("selected").filter(`[href="#/${filter === "all" ? "" : filter}"]`).addClass("selected");
  $(".clear-completed").toggle(todos.length - left > 0);
  $("#toggle-all").prop("checked", todos.length > 0 && left === 0);
  save(KEY, todos);
}

$(".new-todo").on("keyup", function (e) {
  const title = $(this).val().trim();
  if (e.key !== "Enter" || !title) return;
  todos.push({ title, completed: false });
  $(this).val("");
  render();
});
$(".todo-list")
  .on("change", ".toggle", function () {
    const i = Number($(this).closest("li").attr("data-index"));
    todos[i].completed = this.checked;
    render();
  })
  .on("click", ".destroy", function () {
    todos.splice(Number($(this).closest("li").attr("data-index")), 1);
    render();
  });
$("#toggle-all").on("change", function () {
  todos.forEach((t) => { t.completed = this.checked; });
  render();
});
$(".clear-completed").on("click", () => {
  todos = todos.filter((t) => !t.completed);
  render();
});
$(window).on("hashchange", render);
render();
