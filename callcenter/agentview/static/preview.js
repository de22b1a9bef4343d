// The campaign panel: a preview campaign's next card (the record and the campaign's script, filled in by the server),
// which the agent calls or skips. Shown only when the agent's team has a running preview campaign. Everything from
// the server is put in as text, never as HTML; a refusal shows the server's message and the field it names.
"use strict";
import { el } from "./call.js";

const $ = (id) => document.getElementById(id);

export class PreviewPanel {
  constructor({ call }) {
    this.call = call;  // the API client
    this.card = null;  // the card shown: {campaign_id, record_id, e164, values, script}
    $("preview-next").addEventListener("click", () => this.next());
    $("preview-call").addEventListener("click", () => this.dial());
    $("preview-skip").addEventListener("click", () => this.skip());
  }

  get campaignId() { return $("preview-campaign").value; }

  // The team's running preview campaigns (re-read when the page connects and after each call).
  async load() {
    let campaigns;
    try {
      campaigns = await this.call("GET", "/api/v1/preview-campaigns");
    } catch (error) {
      this.error(error);
      return;
    }
    const select = $("preview-campaign");
    const chosen = select.value;
    select.replaceChildren(...campaigns.map((c) => {
      const option = el("option", c.name);
      option.value = String(c.id);
      return option;
    }));
    if (campaigns.some((c) => String(c.id) === chosen)) select.value = chosen;
    $("preview").hidden = campaigns.length === 0;
    if (this.card && !campaigns.some((c) => c.id === this.card.campaign_id)) this.show(null);
  }

  async next() {
    await this.act("next", (card) => this.show(card));
  }

  async dial() {
    const number = this.card && this.card.e164;
    await this.act("dial", () => {
      this.show(null);
      $("preview-status").textContent = `Calling ${number}: your phone rings when they answer.`;
    });
  }

  async skip() {
    await this.act("skip", () => this.show(null));
    if (!this.card && $("preview-error").hidden) await this.next();
  }

  async act(action, then) {
    $("preview-error").hidden = true;
    $("preview-status").textContent = "";
    try {
      then(await this.call("POST", `/api/v1/campaigns/${encodeURIComponent(this.campaignId)}/preview/${action}`));
    } catch (error) {
      // The card went with a refused dial (the number may not be called): take the next one.
      if (action === "dial" && error.field === "e164") this.show(null);
      this.error(error);
    }
  }

  error(error) {
    let text = error.message + (error.field ? ` (${error.field})` : "");
    if (error.retryAtS) text += `; callable again ${new Date(error.retryAtS * 1000).toLocaleTimeString()}`;
    $("preview-error").textContent = text;
    $("preview-error").hidden = false;
  }

  show(card) {
    this.card = card;
    $("preview-card").hidden = !card;
    $("preview-call").disabled = !card;
    $("preview-skip").disabled = !card;
    if (!card) return;
    $("preview-number").textContent = card.e164;
    $("preview-values").replaceChildren(...Object.entries(card.values).flatMap(([name, value]) =>
      [el("dt", name.replace(/_/g, " ")), el("dd", value === null ? "" : String(value))]));
    $("preview-script").hidden = !card.script;
    $("preview-script").textContent = card.script ? card.script.text : "";
  }
}
