// Modal dialogs: the native <dialog> opened with showModal, which keeps
// Tab inside it, makes the rest of the page inert and closes on Escape.

import { h, uid } from './dom.js';

// confirm asks a yes-or-no question and resolves to true when the person
// confirms. Focus moves into the dialog, to Cancel (the safe choice), and
// returns where it was when the dialog closes, if that element is still
// in the page; the caller moves it when its action removed that element.
export function confirm({ title, message, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const returnTo = document.activeElement;
    const titleID = uid('dialog-title');
    const messageID = uid('dialog-message');
    const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'button danger' : 'button primary' }, confirmLabel);
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': titleID, 'aria-describedby': messageID },
      h('h2', { id: titleID }, title),
      h('p', { id: messageID }, message),
      h('div', { class: 'actions' }, cancel, ok));
    cancel.addEventListener('click', () => dialog.close('cancel'));
    ok.addEventListener('click', () => dialog.close('confirm'));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (returnTo instanceof HTMLElement && returnTo.isConnected) returnTo.focus();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
