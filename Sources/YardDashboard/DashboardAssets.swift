/// The dashboard's one stylesheet and one script, served from `/assets/`: the project's
/// own, no framework, nothing fetched from another host.
enum DashboardAssets {
    static let css = """
        :root { --bg: #f6f7f9; --fg: #1b1f24; --muted: #4a5360; --card: #ffffff; --line: #6b4fbb;
          --ok: #116329; --bad: #a40e26; --busy: #7a4a00; --idle: #4a5360; --accent: #4b2fa0; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
        header.top { display: flex; gap: 1rem; align-items: center; padding: .6rem 1.2rem; background: #1b1f24; color: #fff; }
        header.top a { color: #fff; }
        header.top nav { flex: 1; }
        main { padding: 1.2rem; max-width: 1280px; }
        a { color: var(--accent); }
        h1 { font-size: 1.4rem; margin: .2rem 0 1rem; }
        h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; }
        table { border-collapse: collapse; width: 100%; background: var(--card); }
        th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d5dc; vertical-align: top; }
        form.inline { display: inline; }
        label { margin-right: .4rem; }
        input, select, button { font: inherit; padding: .25rem .5rem; }
        button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
        button.danger { background: var(--bad); }
        button:focus-visible, a:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #0b57d0; outline-offset: 2px; }
        .error { background: #ffe9ec; color: var(--bad); padding: .6rem; border-radius: 4px; }
        .notice { background: #fff4d6; color: var(--busy); padding: .6rem; border-radius: 4px; }
        .muted { color: var(--muted); }
        #metrics { display: flex; flex-wrap: wrap; gap: 1rem; }
        figure.chart { margin: 0; padding: .4rem .6rem; background: var(--card); border: 1px solid #d0d5dc; border-radius: 4px; }
        figure.chart svg { display: block; color: var(--accent); }
        .status { font-weight: 600; }
        .status-SUCCESS, .status-COMPLETED { color: var(--ok); }
        .status-FAILED, .status-CRASHED { color: var(--bad); }
        .status-QUEUED, .status-WAITING, .status-INITIALIZING, .status-BUILDING, .status-DEPLOYING, .status-REMOVING { color: var(--busy); }
        .status-SLEEPING, .status-REMOVED, .status-SKIPPED, .status-NONE { color: var(--idle); }
        .canvas { position: relative; margin-top: 1rem; }
        .canvas svg { position: absolute; top: 0; left: 0; pointer-events: none; }
        .canvas svg line { stroke: var(--line); stroke-width: 2; stroke-dasharray: 6 4; }
        .cards { position: relative; display: grid; grid-template-columns: repeat(4, 240px); grid-auto-rows: 130px; gap: 48px; }
        .cards.arranged { display: block; }
        .cards.arranged .card { position: absolute; width: 240px; height: 130px; cursor: grab; touch-action: none; }
        .card { background: var(--card); border: 1px solid #c4cad3; border-radius: 8px; padding: .6rem .8rem; overflow: hidden; }
        .card h2 { margin: 0 0 .3rem; font-size: 1rem; }
        .card .kind { display: inline-block; min-width: 1.6rem; text-align: center; border-radius: 4px; background: #e4e0f5; color: var(--accent); margin-right: .3rem; }
        .card p { margin: .15rem 0; }
        pre.logs { background: #111418; color: #e6e6e6; padding: .8rem; min-height: 8rem; max-height: 28rem; overflow: auto; white-space: pre-wrap; }
        """

    static let js = """
        // Switchyard dashboard: confirmations, live canvas statuses, live logs. No framework.
        (function () {
          "use strict";
          var meta = document.querySelector('meta[name="csrf-token"]');
          var csrf = meta ? meta.getAttribute("content") : "";

          document.querySelectorAll("form[data-confirm]").forEach(function (form) {
            form.addEventListener("submit", function (event) {
              if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
            });
          });

          // Actions sent with fetch carry the CSRF token in a header.
          window.yardPost = function (url) {
            return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
          };

          var canvas = document.querySelector("[data-status-url]");
          if (canvas) {
            var url = canvas.getAttribute("data-status-url");
            var poll = function () {
              fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
                .then(function (response) { return response.ok ? response.json() : null; })
                .then(function (status) {
                  if (!status) { return; }
                  var shown = document.querySelectorAll(".card[data-service]").length;
                  if (status.services.length !== shown) { window.location.reload(); return; }
                  status.services.forEach(function (service) {
                    var card = document.querySelector('.card[data-service="' + CSS.escape(service.name) + '"]');
                    if (!card) { return; }
                    var label = card.querySelector(".status");
                    label.textContent = service.status;
                    label.className = "status status-" + service.status;
                    card.querySelector(".replicas").textContent = String(service.replicas);
                  });
                })
                .catch(function () {})
                .finally(function () { window.setTimeout(poll, 1500); });
            };
            window.setTimeout(poll, 1500);
          }

          // Drag to arrange: cards sit where their data-x/data-y say (set through the CSSOM,
          // which the Content-Security-Policy allows), lines follow, the drop is saved.
          var board = document.querySelector(".cards");
          if (canvas && board) {
            var svg = canvas.querySelector("svg");
            var cards = board.querySelectorAll(".card");
            var layoutURL = canvas.getAttribute("data-layout-url");
            var place = function (card) { card.style.left = card.dataset.x + "px"; card.style.top = card.dataset.y + "px"; };
            var fit = function () {
              var width = 240, height = 130;
              cards.forEach(function (card) { width = Math.max(width, +card.dataset.x + 240); height = Math.max(height, +card.dataset.y + 130); });
              board.style.width = width + "px";
              board.style.height = height + "px";
              svg.setAttribute("width", width);
              svg.setAttribute("height", height);
            };
            var follow = function (card) {
              var name = card.dataset.service, x = +card.dataset.x + 120, y = +card.dataset.y + 65;
              svg.querySelectorAll("line").forEach(function (line) {
                if (line.dataset.from === name) { line.setAttribute("x1", x); line.setAttribute("y1", y); }
                if (line.dataset.to === name) { line.setAttribute("x2", x); line.setAttribute("y2", y); }
              });
            };
            // One save at a time per card, each sending where the card is then, so a later
            // move is never overwritten by an earlier one arriving last.
            var save = function (card) {
              card.dataset.saved = "pending";
              var chain = (card.yardSaving || Promise.resolve()).then(function () {
                var body = new URLSearchParams({ service: card.dataset.service, x: card.dataset.x, y: card.dataset.y });
                return fetch(layoutURL, { method: "POST", credentials: "same-origin", body: body,
                  headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" } });
              }).then(function (response) {
                if (card.yardSaving === chain) { card.dataset.saved = response.ok ? "true" : "false"; }
              }, function () {
                if (card.yardSaving === chain) { card.dataset.saved = "false"; }
              });
              card.yardSaving = chain;
            };
            board.classList.add("arranged");
            cards.forEach(place);
            fit();
            cards.forEach(function (card) {
              card.addEventListener("pointerdown", function (event) {
                if (event.target.closest("a, button, input")) { return; }
                var startX = event.clientX, startY = event.clientY, fromX = +card.dataset.x, fromY = +card.dataset.y;
                card.setPointerCapture(event.pointerId);
                var move = function (e) {
                  card.dataset.x = Math.max(0, Math.round(fromX + e.clientX - startX));
                  card.dataset.y = Math.max(0, Math.round(fromY + e.clientY - startY));
                  place(card);
                  follow(card);
                  fit();
                };
                var drop = function () {
                  card.removeEventListener("pointermove", move);
                  card.removeEventListener("pointerup", drop);
                  save(card);
                };
                card.addEventListener("pointermove", move);
                card.addEventListener("pointerup", drop);
              });
              // The keyboard way: focus the card, move it with the arrow keys (16 px a press).
              card.addEventListener("keydown", function (event) {
                var steps = { ArrowLeft: [-16, 0], ArrowRight: [16, 0], ArrowUp: [0, -16], ArrowDown: [0, 16] }[event.key];
                if (event.target !== card || !steps) { return; }
                event.preventDefault();
                card.dataset.x = Math.max(0, +card.dataset.x + steps[0]);
                card.dataset.y = Math.max(0, +card.dataset.y + steps[1]);
                place(card);
                follow(card);
                fit();
                save(card);
              });
            });
          }

          document.querySelectorAll("pre[data-log-url]").forEach(function (pre) {
            var decoder = new TextDecoder();
            var pending = "";
            fetch(pre.getAttribute("data-log-url"), { credentials: "same-origin" }).then(function (response) {
              if (!response.ok || !response.body) {
                return response.text().then(function (text) { pre.textContent = "The log cannot be shown: " + text; });
              }
              pre.textContent = "";
              var reader = response.body.getReader();
              var pump = function () {
                return reader.read().then(function (chunk) {
                  if (chunk.done) { pre.setAttribute("data-log-done", "true"); return; }
                  pending += decoder.decode(chunk.value, { stream: true });
                  var lines = pending.split("\\n");
                  pending = lines.pop();
                  lines.forEach(function (text) {
                    if (!text) { return; }
                    try {
                      var line = JSON.parse(text);
                      var shown = line.http ? [line.http.method, line.http.host + line.http.path, line.http.status, line.http.durationMs + " ms"].join(" ") : line.message;
                      pre.appendChild(document.createTextNode(shown + "\\n"));
                    } catch (e) {}
                  });
                  pre.scrollTop = pre.scrollHeight;
                  return pump();
                });
              };
              return pump();
            });
          });
        })();
        """
}

/// The sizes the unit tests check against the page budget.
public enum DashboardSizes {
    public static var assetBytes: Int { DashboardAssets.css.utf8.count + DashboardAssets.js.utf8.count }
}
