import ansis from 'ansis';

/**
 * The colours of text output, from oclif's own `ansis`: on when stdout is a terminal and neither
 * NO_COLOR nor `--no-color` asks for plain text (cli/baseCommand.ts `parse` decides for a
 * command), and only as far as ansis finds the terminal supports them.
 */
let enabled = process.stdout.isTTY === true && !process.env.NO_COLOR;

export function useColour(on: boolean): void {
  enabled = on;
}

type Style = (text: string) => string;
const style =
  (s: Style): Style =>
  (text) =>
    enabled ? s(text) : text;

export const red = style(ansis.red);
export const yellow = style(ansis.yellow);
export const green = style(ansis.green);
export const cyan = style(ansis.cyan);
export const blue = style(ansis.blue);
export const magenta = style(ansis.magenta);
export const bold = style(ansis.bold);
export const dim = style(ansis.dim);
export const redBold = style(ansis.red.bold);
export const yellowBold = style(ansis.yellow.bold);
