// hcp-gateway console: the phone menu, and the flow simulator (the engine runs on the server).
"use strict";
(function () {
  const toggle = document.querySelector(".menu-toggle");
  if (!toggle) return;
  const header = toggle.closest("header");
  toggle.addEventListener("click", () => {
    const open = header.classList.toggle("open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
(function () {
  // the 已整改 text as the note is typed (the server composes it: console.feedback)
  const box = document.querySelector(".fb-preview");
  const note = document.querySelector("form.act textarea[name=note]");
  if (!box || !note) return;
  let timer = null;
  note.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const resp = await fetch(box.dataset.url + "?note=" + encodeURIComponent(note.value),
                               {credentials: "same-origin"});
      if (resp.ok) document.getElementById("fb-body").innerHTML = (await resp.json()).html;
    }, 250);
  });
})();
(function () {
  const sim = document.querySelector(".sim");
  if (!sim) return;
  const flow = sim.dataset.flow;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const log = document.getElementById("sim-log");
  const player = document.getElementById("sim-audio");
  let queue = [];

  function line(text, cls) {
    const div = document.createElement("div");
    div.textContent = text;
    if (cls) div.className = cls;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }
  function classOf(text) {
    if (text.startsWith("play")) return "play";
    if (text.startsWith("sms")) return "sms";
    if (text.startsWith("==")) return "end";
    return "";
  }
  function playNext() {
    if (!queue.length) return;
    player.src = queue.shift();
    player.play().catch(() => {});
  }
  player.addEventListener("ended", playNext);

  async function send(body) {
    const resp = await fetch("/console/api/simulate", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(Object.assign({flow: flow}, body)),
    });
    const data = await resp.json();
    if (!resp.ok) { line("! " + (data.error || resp.status), "err"); return; }
    data.lines.forEach((t) => line(t, classOf(t)));
    document.getElementById("sim-node").textContent = data.node || "—";
    document.getElementById("sim-status").textContent = data.status || "—";
    queue = queue.concat(data.audio);
    if (player.paused) playNext();
  }
  document.getElementById("sim-start").addEventListener("click", () => {
    log.textContent = ""; queue = []; player.pause();
    const field = (id) => { const el = document.getElementById(id); return el ? el.value : ""; };
    send({action: "start", lang: field("sim-lang"), ticket: field("sim-ticket"),
          agent: field("sim-agent"), trunk: field("sim-trunk")});
  });
  document.getElementById("sim-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = document.getElementById("sim-text");
    if (!input.value.trim()) return;
    line("> " + input.value, "in");
    send({action: "input", text: input.value});
    input.value = "";
  });
  document.querySelectorAll(".key").forEach((b) => b.addEventListener("click", () => {
    line("> " + b.dataset.key, "in");
    send({action: "input", text: b.dataset.key});
  }));
})();
