/** Autocomplete: the kernel's choices for the focused option (as the registry declares it), at most 25. */
import type { AutocompleteInteraction } from "discord.js";
import { kebab } from "../../../../commands/parse.ts";
import type { Choice } from "../../../chat/complete.ts";
import { chatFields, findDef, interactionPath, type InteractionOption } from "../commands.ts";
import type { DiscordContext } from "../context.ts";

export async function onAutocomplete(d: DiscordContext, i: AutocompleteInteraction): Promise<void> {
  let choices: Choice[] = [];
  try {
    const { path, leaf } = interactionPath(i.options.data as readonly InteractionOption[]);
    const def = findDef(path);
    const focused = leaf.find((o) => o.focused);
    const field = def && focused ? chatFields(def).find(([f]) => kebab(f) === focused.name)?.[0] : undefined;
    if (def && field && focused) choices = d.kernel.autocomplete(def.path, field, String(focused.value ?? ""));
  } catch (err) {
    d.log.warn({ err: d.errInfo(err) }, "autocomplete failed");
  }
  await i.respond(choices.slice(0, 25).map((c) => ({ name: d.scrub(c.name), value: c.value })));
}
