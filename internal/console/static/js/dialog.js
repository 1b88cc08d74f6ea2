// Modal dialogs: the native <dialog> opened with showModal, which keeps
// Tab inside it, makes the rest of the page inert and closes on Escape.

import { h, uid } from './dom.js';

// modal opens a dialog titled title, with the content (nodes) under its
// heading, and returns {dialog, close}. The dialog is described by the
// element with the id describedBy, when given. Focus moves to first (the
// safe or most likely choice); when the dialog closes (close(), or Escape)
// it is removed, the focus returns where it was when it opened, if that
// element is still in the page and nothing else took the focus meanwhile,
// and onClose(returnValue) is called.
export function modal({ title, content, describedBy, first, onClose, className = 'confirm' }) {
  const returnTo = document.activeElement;
  const titleID = uid('dialog-title');
  const dialog = h('dialog', { class: className, 'aria-labelledby': titleID, 'aria-describedby': describedBy },
    h('h2', { id: titleID }, title),
    content);
  dialog.addEventListener('close', () => {
    dialog.remove();
    // The close event comes after close() returned: what the caller did
    // then (such as focusing what the dialog's action showed) stands.
    const lost = document.activeElement === null || document.activeElement === document.body;
    if (lost && returnTo instanceof HTMLElement && returnTo.isConnected) returnTo.focus();
    if (onClose) onClose(dialog.returnValue);
  });
  document.body.append(dialog);
  dialog.showModal();
  if (first) first.focus();
  return { dialog, close: (value = '') => dialog.close(value) };
}

// confirm asks a yes-or-no question and resolves to true when the person
// confirms. Focus moves into the dialog, to Cancel (the safe choice), and
// returns where it was when the dialog closes, if that element is still
// in the page; the caller moves it when its action removed that element.
export function confirm({ title, message, confirmLabel, danger = true }) {
  return new Promise((resolve) => {
    const messageID = uid('dialog-message');
    const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'button danger' : 'button primary' }, confirmLabel);
    const { close } = modal({
      title,
      describedBy: messageID,
      content: [h('p', { id: messageID }, message), h('div', { class: 'actions' }, cancel, ok)],
      first: cancel,
      onClose: (value) => resolve(value === 'confirm'),
    });
    cancel.addEventListener('click', () => close('cancel'));
    ok.addEventListener('click', () => close('confirm'));
  });
}
