import { useState } from 'react';

const KEY = 'taleweaver.showModelText';

/** Whether the text the model wrote is marked ("Show model text"), remembered in this browser (on by default). */
export function useShownModelText(): [boolean, (shown: boolean) => void] {
  const [shown, setShown] = useState(() => localStorage.getItem(KEY) !== 'off');
  return [
    shown,
    (next: boolean) => {
      localStorage.setItem(KEY, next ? 'on' : 'off');
      setShown(next);
    },
  ];
}
