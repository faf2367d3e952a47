// The dialogue-map editor in the admin: a pretty-printed JSON textarea that checks itself as you type.
// It knows the map's shape (top-level keys, intents, stage targets) from data-hints, keeps your
// indentation (Tab indents, Enter keeps the line's indent) and reformats on request. No inline script
// (the Content-Security-Policy allows scripts from this site only).
(function () {
  "use strict";

  function lineCol(text, pos) {
    var before = text.slice(0, pos);
    var line = before.split("\n").length;
    return { line: line, col: pos - before.lastIndexOf("\n") };
  }

  function problems(map, hints, t) {
    var found = [];
    if (typeof map !== "object" || map === null || Array.isArray(map)) { return [t.not_object]; }
    Object.keys(map).forEach(function (key) {
      if (hints.top.indexOf(key) < 0) { found.push(t.unknown_key.replace("%s", key)); }
    });
    var stages = map.stages && typeof map.stages === "object" ? map.stages : {};
    if (map.start && !(map.start in stages)) { found.push(t.unknown_stage.replace("%s", map.start)); }
    Object.keys(stages).forEach(function (name) {
      var tr = (stages[name] || {}).transitions || {};
      Object.keys(tr).forEach(function (intent) {
        if (hints.intents.indexOf(intent) < 0) { found.push(t.unknown_intent.replace("%s", name + "/" + intent)); }
        var target = tr[intent];
        if (typeof target === "string" && hints.targets.indexOf(target) < 0 && !(target in stages)) {
          found.push(t.unknown_stage.replace("%s", name + " → " + target));
        }
      });
    });
    return found;
  }

  function setup(area) {
    var hints = JSON.parse(area.dataset.hints || "{}");
    var t = JSON.parse(area.dataset.messages || "{}");
    var status = document.createElement("div");
    status.className = "map-editor-status";
    status.setAttribute("role", "status");
    var format = document.createElement("button");
    format.type = "button";
    format.className = "button";
    format.textContent = t.format;
    area.parentNode.insertBefore(status, area.nextSibling);
    area.parentNode.insertBefore(format, status);

    function check() {
      var text = area.value;
      try {
        var map = JSON.parse(text);
        var list = problems(map, hints, t);
        status.dataset.state = list.length ? "warn" : "ok";
        status.textContent = list.length ? list.join(" · ") : t.ok;
        return map;
      } catch (err) {
        var m = /position (\d+)/.exec(err.message);
        var where = m ? lineCol(text, parseInt(m[1], 10)) : null;
        status.dataset.state = "error";
        status.textContent = where ? t.syntax_at.replace("%l", where.line).replace("%c", where.col) : t.syntax;
        return null;
      }
    }

    var timer = null;
    function redraw() {
      var box = document.getElementById("stage-graph");
      var map = check();
      if (!box || map === null || !area.dataset.graphUrl) { return; }
      var token = document.querySelector("input[name=csrfmiddlewaretoken]");
      fetch(area.dataset.graphUrl, {
        method: "POST", credentials: "same-origin", body: JSON.stringify(map),
        headers: { "Content-Type": "application/json", "X-CSRFToken": token ? token.value : "" }
      }).then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { box.innerHTML = html; box.dataset.drawn = "1"; } });
    }
    area.addEventListener("input", function () {
      check();
      clearTimeout(timer);
      timer = setTimeout(redraw, 400);
    });
    area.addEventListener("keydown", function (ev) {
      var start = area.selectionStart, end = area.selectionEnd, text = area.value;
      if (ev.key === "Tab") {
        ev.preventDefault();
        area.setRangeText("  ", start, end, "end");
      } else if (ev.key === "Enter") {
        var lineStart = text.lastIndexOf("\n", start - 1) + 1;
        var indent = /^[ ]*/.exec(text.slice(lineStart))[0];
        if (/[{[]\s*$/.test(text.slice(lineStart, start))) { indent += "  "; }
        ev.preventDefault();
        area.setRangeText("\n" + indent, start, end, "end");
        check();
      }
    });
    format.addEventListener("click", function () {
      var map = check();
      if (map !== null) { area.value = JSON.stringify(map, null, 2); check(); }
    });
    redraw();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("textarea.map-editor"), setup);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
