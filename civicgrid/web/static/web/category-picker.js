/* civicgrid category picker: turns the report form's <select name="category"> (an <optgroup>
 * per parent, options with data-search words and, for common problems, data-plain words) into
 * big buttons for the common problems, a search over the whole tree and the choice in plain
 * words with a "change" button.
 *
 * <div data-category-picker data-select="id_category"> … <div data-picker hidden> … </div></div>
 *
 * The <select> stays the form's real field (hidden from view and from assistive technology once
 * the picker is shown); choosing sets it and fires "change" on it, so htmx loads the category's
 * questions and the duplicates panel. Without JavaScript the <select> is all there is.
 * Keys: in the search box, Down goes to the first result and Enter picks the first; in the
 * results, Up/Down move, Home/End jump, Escape goes back to the search box.
 */
(function () {
  "use strict";

  function norm(text) {
    return (text || "").toLowerCase().replace(/\s+/g, " ").trim();
  }

  function setup(root) {
    var select = document.getElementById(root.dataset.select);
    var picker = root.querySelector("[data-picker]");
    if (!select || !picker) return;
    var search = picker.querySelector("[data-search]");
    var results = picker.querySelector("[data-results]");
    var count = picker.querySelector("[data-count]");
    var chosen = picker.querySelector("[data-chosen]");
    var chosenText = picker.querySelector("[data-chosen-text]");
    var chosenName = picker.querySelector("[data-chosen-name]");
    var chosenGroup = picker.querySelector("[data-chosen-group]");
    var choose = picker.querySelector("[data-choose]");
    var changeButton = picker.querySelector("[data-change]");
    var browse = picker.querySelector("[data-browse]");
    var commons = Array.prototype.slice.call(picker.querySelectorAll("button[data-code]"));

    // The tree, read once from the <select>: [{label, items: [{code, name, plain, words}]}].
    var groups = [];
    var byCode = {};
    function addGroup(label, options) {
      var group = { label: label, items: [] };
      options.forEach(function (opt) {
        if (!opt.value) return;
        var item = {
          code: opt.value,
          name: opt.textContent,
          plain: opt.dataset.plain || "",
          words: norm((opt.dataset.search || "") + " " + opt.textContent),
          group: label,
        };
        group.items.push(item);
        byCode[item.code] = item;
      });
      if (group.items.length) groups.push(group);
    }
    var loose = [];
    Array.prototype.forEach.call(select.children, function (child) {
      if (child.tagName === "OPTGROUP") addGroup(child.label, Array.prototype.slice.call(child.children));
      else loose.push(child);
    });
    addGroup("", loose);

    // Show the picker; the select stays in the DOM as the real field.
    root.classList.add("enhanced");
    select.setAttribute("tabindex", "-1");
    select.setAttribute("aria-hidden", "true");
    root.querySelectorAll("[data-native]").forEach(function (el) { el.setAttribute("aria-hidden", "true"); });
    picker.hidden = false;

    function say(n) {
      var text = n === 0 ? count.dataset.none : n === 1 ? count.dataset.one : (count.dataset.many || "").replace("{n}", n);
      count.textContent = text;
    }

    function resultButtons() {
      return Array.prototype.slice.call(results.querySelectorAll("button[data-code]"));
    }

    function render(query, all) {
      var tokens = norm(query).split(" ").filter(Boolean);
      results.textContent = "";
      if (!tokens.length && !all) {
        count.textContent = "";
        return;
      }
      var total = 0;
      groups.forEach(function (group, gi) {
        var hits = group.items.filter(function (item) {
          return tokens.every(function (t) { return item.words.indexOf(t) !== -1; });
        });
        if (!hits.length) return;
        total += hits.length;
        var box = document.createElement("div");
        box.className = "picker-group";
        box.setAttribute("role", "group");
        var list = document.createElement("ul");
        if (group.label) {
          var title = document.createElement("p");
          title.className = "picker-group-title";
          title.id = "picker-group-" + gi;
          title.textContent = group.label;
          box.setAttribute("aria-labelledby", title.id);
          box.appendChild(title);
        }
        hits.forEach(function (item) {
          var li = document.createElement("li");
          var button = document.createElement("button");
          button.type = "button";
          button.dataset.code = item.code;
          button.textContent = item.plain && item.plain !== item.name ? item.name + " (" + item.plain + ")" : item.name;
          li.appendChild(button);
          list.appendChild(li);
        });
        box.appendChild(list);
        results.appendChild(box);
      });
      say(total);
    }

    function show(code) {
      var item = byCode[code];
      commons.forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.code === code ? "true" : "false"); });
      if (!item) {
        chosen.hidden = true;
        choose.hidden = false;
        return;
      }
      chosenName.textContent = item.plain || item.name;
      chosenGroup.textContent = item.group ? item.group + " / " + item.name : item.name;
      chosen.hidden = false;
      choose.hidden = true;
    }

    function pick(code) {
      if (!byCode[code]) return;
      select.value = code;
      show(code);
      select.dispatchEvent(new Event("change", { bubbles: true }));
      chosenText.focus();
    }

    picker.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-code]");
      if (button && picker.contains(button)) pick(button.dataset.code);
    });
    changeButton.addEventListener("click", function () {
      chosen.hidden = true;
      choose.hidden = false;
      search.focus();
    });
    browse.addEventListener("click", function () {
      search.value = "";
      render("", true);
      var first = resultButtons()[0];
      if (first) first.focus();
    });
    search.addEventListener("input", function () { render(search.value, false); });
    search.addEventListener("keydown", function (event) {
      var buttons = resultButtons();
      if (event.key === "Enter") {
        event.preventDefault(); // never submit the report from the search box
        if (buttons.length) pick(buttons[0].dataset.code);
      } else if (event.key === "ArrowDown" && buttons.length) {
        event.preventDefault();
        buttons[0].focus();
      } else if (event.key === "Escape" && search.value) {
        event.preventDefault();
        search.value = "";
        render("", false);
      }
    });
    results.addEventListener("keydown", function (event) {
      var buttons = resultButtons();
      var i = buttons.indexOf(document.activeElement);
      if (i === -1) return;
      var next = null;
      if (event.key === "ArrowDown") next = buttons[Math.min(i + 1, buttons.length - 1)];
      else if (event.key === "ArrowUp") next = i === 0 ? search : buttons[i - 1];
      else if (event.key === "Home") next = buttons[0];
      else if (event.key === "End") next = buttons[buttons.length - 1];
      else if (event.key === "Escape") next = search;
      if (next) {
        event.preventDefault();
        next.focus();
      }
    });
    // Chosen some other way (a test's select_option, the browser restoring the form).
    select.addEventListener("change", function () { show(select.value); });

    // An error on the field belongs to the control people use now.
    if (select.getAttribute("aria-invalid") === "true") search.setAttribute("aria-invalid", "true");
    show(select.value);
  }

  function init() {
    document.querySelectorAll("[data-category-picker]").forEach(setup);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
