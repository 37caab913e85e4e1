/** The console and the CLI render cards as plain text: the shared text renderer lives in the chat kernel. */
export { cliText, renderBlock, renderCard, type RenderOptions } from "../../chat/text.ts";
