/**
 * The name a person chats under: chosen in a dialog on the first visit, remembered in localStorage,
 * and sent in the handshake. The page checks it with the server's own rule (shared/text.ts), but
 * the server decides: a name it refuses brings the dialog back with its reason.
 */
import { checkName } from '../shared/text.js';

const STORAGE_KEY = 'chat-name';

export function storedName(): string | undefined {
  return localStorage.getItem(STORAGE_KEY) ?? undefined;
}

/**
 * Shows the name dialog until a valid name is submitted, then stores and resolves with it.
 * `problem` explains why it is asked again (the server refused the last one).
 */
export function askForName(options: { current?: string; problem?: string } = {}): Promise<string> {
  const dialog = $('#name-dialog')[0] as HTMLDialogElement;
  const $input = $('#name');
  const $error = $('#name-error');
  $input.val(options.current ?? '');
  $error.text(options.problem ?? '');

  return new Promise((resolve) => {
    // Without a name there is nothing to chat as: Escape does not close the dialog.
    $(dialog).on('cancel.name', (event) => event.preventDefault());
    $('#name-form').on('submit.name', (event) => {
      event.preventDefault();
      const checked = checkName($input.val());
      if (!checked.ok) {
        $error.text(`That name cannot be used: ${checked.error}.`);
        return;
      }
      $('#name-form').off('.name');
      $(dialog).off('.name');
      dialog.close();
      localStorage.setItem(STORAGE_KEY, checked.text);
      resolve(checked.text);
    });
    if (!dialog.open) dialog.showModal();
    $input.trigger('focus');
  });
}
