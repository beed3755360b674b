/* Crisis sources Q&A: a chat box that answers with cited passages from the sources.

   Add it to any page with one tag (the service must list the page's origin in RAG_CORS_ORIGINS):

     <script src="https://qa.example.org/widget.js" defer></script>

   Options, as data- attributes of that tag:
     data-target="#chat"   draw the box inside this element (default: a button at the bottom right opens it)
     data-api="https://…"  the service (default: where this script was loaded from)
     data-top-k="5"        passages per answer
     data-title="…"        the box's heading
     data-examples="Why …?|What …?"  questions offered before the first one is asked
     data-group-by="source"  every side in its own words: each source's best passages in a section of its
                           own, headed by its name and dates, then the sources that do not address the question
     data-mode="rerank"    the retrieval mode (hybrid by default; rerank is about half a second slower and
                           better on long briefings only)

   Passages come from outside sources and are untrusted: they are only ever put into the page as text
   (textContent, text nodes), never as HTML, and only http(s) links are made clickable. */
(() => {
  "use strict";

  const script = document.currentScript;
  const options = {
    api: (script.dataset.api || new URL(script.src, location.href).origin).replace(/\/+$/, ""),
    target: script.dataset.target,
    topK: Number(script.dataset.topK) || 5,
    title: script.dataset.title || "Ask the sources",
    examples: (script.dataset.examples || "").split("|").map((q) => q.trim()).filter(Boolean),
    groupBy: script.dataset.groupBy === "source" ? "source" : undefined, // undefined: left out of the request
    mode: script.dataset.mode || undefined, // the service checks it, and a refusal is shown like any other
  };
  const MAX_HISTORY = 10; // user turns sent along, so follow-ups ("and Belarus?") keep their topic
  const UNNAMED = "Source not named"; // documents whose publisher is not known (source "")

  const STYLE = `
    :host { all: initial; display: block; height: 100%; color: #1f2933;
            font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
    .inline { height: 100%; }
    * { box-sizing: border-box; }
    .panel { display: flex; flex-direction: column; height: 100%; min-height: 420px; background: #fff;
             border: 1px solid #d9dee5; border-radius: 12px; overflow: hidden; }
    .floating .panel { position: fixed; right: 20px; bottom: 84px; width: min(440px, calc(100vw - 40px));
                       height: min(640px, calc(100vh - 120px)); box-shadow: 0 12px 40px rgba(15, 23, 42, .18); }
    .floating .panel[hidden] { display: none; }
    .launcher { position: fixed; right: 20px; bottom: 20px; border: 0; border-radius: 999px; padding: 12px 20px;
                background: #1d4ed8; color: #fff; font: inherit; font-weight: 600; cursor: pointer;
                box-shadow: 0 6px 20px rgba(29, 78, 216, .35); }
    header.top { padding: 14px 18px; background: #0f2747; color: #fff; }
    header.top h2 { margin: 0; font-size: 16px; font-weight: 600; }
    header.top p { margin: 2px 0 0; font-size: 12.5px; color: #b8c6db; }
    .log { position: relative; flex: 1; overflow-y: auto; padding: 16px 18px; background: #f6f8fb; }
    .examples { display: flex; flex-wrap: wrap; gap: 8px; }
    .examples button { border: 1px solid #c7d2e3; background: #fff; color: #1d4ed8; border-radius: 999px;
                       padding: 6px 12px; font: inherit; font-size: 13.5px; cursor: pointer; text-align: left; }
    .examples button:hover { background: #eef3ff; }
    .question { margin: 18px 0 8px; margin-left: auto; width: fit-content; max-width: 85%; padding: 8px 14px;
                border-radius: 14px 14px 4px 14px; background: #1d4ed8; color: #fff; }
    .turn:first-child .question { margin-top: 0; }
    .note { margin: 4px 0 10px; font-size: 12.5px; color: #52606d; }
    .status { font-size: 13.5px; color: #52606d; font-style: italic; }
    .error { color: #b42318; font-style: normal; }
    .passage { margin: 10px 0; padding: 12px 14px; background: #fff; border: 1px solid #e1e6ee; border-radius: 10px; }
    .passage header { display: flex; gap: 8px; align-items: baseline; }
    .cite { flex: none; font-weight: 700; color: #1d4ed8; font-variant-numeric: tabular-nums; }
    .title { font-weight: 600; color: #102a43; overflow-wrap: anywhere; }
    a.title { color: #1d4ed8; text-decoration: none; }
    a.title:hover { text-decoration: underline; }
    .meta { margin: 2px 0 6px; font-size: 12.5px; color: #627d98; }
    .group { margin: 14px 0; }
    .group h3 { margin: 0 0 -2px; font-size: 14px; font-weight: 700; color: #0f2747; }
    .group h3 .dates { font-weight: 400; color: #627d98; }
    .not-addressed { margin: 10px 0; font-size: 13px; color: #52606d; }
    .text { margin: 0; font-size: 13.5px; color: #3e4c59; white-space: pre-line; overflow-wrap: anywhere; }
    mark { background: #fff1b8; color: #1f2933; padding: 1px 0; border-radius: 2px; }
    form { display: flex; gap: 8px; padding: 12px; border-top: 1px solid #e1e6ee; background: #fff; }
    input { flex: 1; min-width: 0; padding: 10px 12px; border: 1px solid #c7d2e3; border-radius: 8px; font: inherit; }
    input:focus { outline: 2px solid #93b4f5; border-color: #1d4ed8; }
    form button { border: 0; border-radius: 8px; padding: 0 18px; background: #1d4ed8; color: #fff; font: inherit;
                  font-weight: 600; cursor: pointer; }
    form button:disabled { background: #9fb3d9; cursor: progress; }
    .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  `;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function httpUrl(value) {
    try {
      const url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function readableDate(iso) {
    const date = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? new Date(`${iso}T00:00:00Z`) : null;
    if (!date || Number.isNaN(date.getTime())) return iso;
    return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  }

  function dateSpan(from, to) {
    return [...new Set([from, to].filter(Boolean))].map(readableDate).join(" – ");
  }

  // Under a source's heading (grouped) the source is not repeated in each passage's citation.
  function passageView(passage, grouped) {
    const card = el("article", "passage");
    const header = el("header");
    const link = httpUrl(passage.url);
    const title = el(link ? "a" : "span", "title", passage.title || "Untitled source");
    if (link) Object.assign(title, { href: link, target: "_blank", rel: "noopener noreferrer nofollow" });
    header.append(el("span", "cite", passage.citation), title);
    const said = [passage.speaker, passage.published && readableDate(passage.published)].filter(Boolean).join(", ");
    const meta = [!grouped && passage.source, said].filter(Boolean);
    // Shown: the display text (the source's Markdown read, wrapped lines joined), its sentence marked;
    // `text` and the offsets stay verbatim, for citing.
    const shown = passage.display_text || passage.text;
    const sentence = passage.display_sentence || passage.sentence;
    const at = sentence ? shown.indexOf(sentence) : -1;
    const text = el("p", "text");
    if (at < 0) text.append(shown);
    else text.append(shown.slice(0, at), el("mark", "", sentence), shown.slice(at + sentence.length));
    const unknown = grouped ? "Date not stated" : "Source not stated";
    card.append(header, el("div", "meta", meta.join(" · ") || unknown), text);
    return card;
  }

  // Passages stream in before the answer says how they group: the answer's sections take the cards already
  // shown (by citation), then a line names the sources with nothing that answers.
  function groupViews(answer, cards) {
    const views = answer.groups.map((group) => {
      const section = el("section", "group");
      const heading = el("h3", "", group.source || UNNAMED);
      const dates = dateSpan(group.published_from, group.published_to);
      if (dates) heading.append(el("span", "dates", ` · ${dates}`));
      section.append(heading, ...group.citations.map((citation) => cards.get(citation)).filter(Boolean));
      return section;
    });
    if (answer.not_addressed.length) {
      const names = answer.not_addressed.map((source) => source || UNNAMED).join(", ");
      views.push(el("p", "not-addressed", `Not addressed by: ${names}`));
    }
    return views;
  }

  // Server-Sent Events over fetch (EventSource can only GET): yields {event, data} as blocks arrive.
  async function* serverEvents(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
      }
    }
  }

  async function refusal(response) {
    const body = await response.json().catch(() => ({}));
    if (response.status === 422 && Array.isArray(body.detail)) return `Please rephrase: ${body.detail[0].msg}.`;
    if (response.status === 429) {
      return `Too many questions at once; try again in ${response.headers.get("Retry-After") || "a few"} seconds.`;
    }
    return `The service could not answer (HTTP ${response.status}).`;
  }

  function mount() {
    const host = el("div");
    host.setAttribute("data-crisis-qa", "");
    const root = host.attachShadow({ mode: "open" });
    const frame = el("div", options.target ? "inline" : "floating");
    const panel = el("section", "panel");
    panel.setAttribute("aria-label", options.title);

    const top = el("header", "top");
    top.append(el("h2", "", options.title), el("p", "", "Answers are passages quoted from the sources, with citations."));
    const log = el("div", "log");
    log.setAttribute("aria-live", "polite");
    const form = el("form");
    const label = el("label", "sr-only", "Your question");
    const input = el("input");
    Object.assign(input, { type: "text", name: "question", placeholder: "Ask a question…", maxLength: 2000,
                           autocomplete: "off", required: true });
    label.htmlFor = input.id = "crisis-qa-question";
    const send = el("button", "", "Ask");
    send.type = "submit";
    form.append(label, input, send);
    panel.append(top, log, form);

    const history = [];
    if (options.examples.length) {
      const examples = el("div", "examples");
      for (const question of options.examples) {
        const chip = el("button", "", question);
        chip.type = "button";
        chip.addEventListener("click", () => ask(question));
        examples.append(chip);
      }
      log.append(examples);
    }

    async function ask(question) {
      log.querySelector(".examples")?.remove();
      const turn = el("section", "turn");
      const asked = el("p", "question", question);
      const status = el("p", "status", "Searching the sources…");
      turn.append(asked, status);
      log.append(turn);
      // The new question at the top of the box, so the best passage is read first as the others arrive.
      log.scrollTop = turn.offsetTop - 12;
      send.disabled = true;
      try {
        const response = await fetch(`${options.api}/v1/ask/stream`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
          body: JSON.stringify({ question, top_k: options.topK, group_by: options.groupBy, mode: options.mode,
                                 conversation: history.slice(-MAX_HISTORY) }),
        });
        if (!response.ok) throw new Error(await refusal(response));
        let answered = false;
        const cards = new Map();
        for await (const { event, data } of serverEvents(response)) {
          if (event === "passage") {
            const card = passageView(data, Boolean(options.groupBy));
            cards.set(data.citation, card);
            status.before(card);
          } else if (event === "answer") {
            answered = true;
            if (data.searched !== data.question) asked.after(el("p", "note", `Searched for: ${data.searched}`));
            if (data.group_by === "source") status.before(...groupViews(data, cards));
            if (data.abstained) status.textContent = ["The sources do not answer this question.", data.note].filter(Boolean).join(" ");
            else if (data.note) status.textContent = data.note;
            else status.remove();
          }
        }
        if (!answered) throw new Error("The answer was cut off; please ask again.");
        history.push({ role: "user", text: question });
      } catch (error) {
        status.textContent = error.message || "The service could not be reached.";
        status.classList.add("error");
      } finally {
        send.disabled = false;
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const question = input.value.trim();
      if (!question || send.disabled) return;
      input.value = "";
      ask(question);
    });

    const style = el("style");
    style.textContent = STYLE;
    frame.append(panel);
    root.append(style, frame);
    if (options.target) {
      document.querySelector(options.target).append(host);
      return;
    }
    const launcher = el("button", "launcher", options.title);
    launcher.type = "button";
    panel.hidden = true;
    launcher.addEventListener("click", () => {
      panel.hidden = !panel.hidden;
      if (!panel.hidden) input.focus();
    });
    frame.append(launcher);
    document.body.append(host);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
