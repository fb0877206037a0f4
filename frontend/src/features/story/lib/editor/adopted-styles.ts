import { StyleModule } from 'style-mod';

/**
 * CodeMirror's own styles come from style-mod, which writes a document's styles into a <style>
 * element. The server's Content-Security-Policy (`style-src 'self'`, no 'unsafe-inline') refuses
 * that element: the editor would be unstyled, with an error in the console. A constructable style
 * sheet is not an inline style (Chromium applies it under that policy, measured), and style-mod
 * already uses one for a shadow root; this has it use one for the document too, through an object
 * that stands for the document's adopted style sheets.
 */
const documentSheets = {
  ownerDocument: document,
  get adoptedStyleSheets(): CSSStyleSheet[] {
    return document.adoptedStyleSheets;
  },
  set adoptedStyleSheets(sheets: CSSStyleSheet[]) {
    document.adoptedStyleSheets = sheets;
  },
};

let adopted = false;

/** Once, before the first editor is made. A browser without adopted style sheets (jsdom) keeps the <style> element. */
export function adoptEditorStyles(): void {
  if (adopted || !('adoptedStyleSheets' in document)) return;
  adopted = true;
  const mount = StyleModule.mount.bind(StyleModule);
  StyleModule.mount = (root, modules, options) => mount(root === document ? (documentSheets as unknown as Document) : root, modules, options);
}
