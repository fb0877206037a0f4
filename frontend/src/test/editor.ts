import { screen } from '@testing-library/react';
import type { UserEvent } from '@testing-library/user-event';

/** The story's editor (CodeMirror's content element, a textbox named "Story text"). */
export function storyBox(): HTMLElement {
  return screen.getByLabelText('Story text');
}

/** The story's text as the editor's state holds it (CodeMirror draws only the lines in view). */
export function storyText(): string {
  return (storyBox() as HTMLElement & { storyText: string }).storyText;
}

/** Types `text` after the story's last word, as a writer who clicked into it and pressed Ctrl+End. */
export async function typeAtEnd(user: UserEvent, text: string): Promise<void> {
  await user.click(storyBox());
  await user.keyboard('{Control>}{End}{/Control}');
  await user.keyboard(text);
}
