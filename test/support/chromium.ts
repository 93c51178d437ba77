import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { root } from './cli.ts';

/** Debian's chromium, which the dashboard tests drive (.ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium';
/** where the dashboard tests leave screenshots for humans to look at */
export const SCREENSHOTS = join(root, 'test-output');

/**
 * The `skip` option of a test that needs Chromium: false when it is installed; otherwise the
 * reason, also printed so a skipped run says why.
 */
export function skipWithoutChromium(what: string): false | string {
  if (existsSync(CHROMIUM)) return false;
  const why = `${CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)`;
  process.stdout.write(`# ${what} skipped: ${why}\n`);
  return why;
}

export interface DashboardPage {
  page: Page;
  /** script errors and console errors seen on the page so far */
  errors: string[];
  /** closes the browser and removes its profile */
  close: () => Promise<void>;
}

/** A headless Chromium (its own throw-away profile) showing the dashboard at `url`. */
export async function openDashboard(url: string, viewport: { width: number; height: number }): Promise<DashboardPage> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'fg-chromium-'));
  const removeProfile = (): void => rmSync(profile, { recursive: true, force: true });
  let browser: BrowserContext;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (e) {
    removeProfile();
    throw e;
  }
  const close = async (): Promise<void> => {
    await browser.close();
    removeProfile();
  };
  try {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await page.goto(url);
    return { page, errors, close };
  } catch (e) {
    await close();
    throw e;
  }
}
