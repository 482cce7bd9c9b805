// Package browser starts a real headless Chromium for tests and opens pages
// in it, one browser context (own cookies and storage) per person, driven
// with chromedp. A test that cannot find Chromium fails with a clear message;
// it never skips (CI installs the chromium package).
//
// It is a test kit: only tests import it. It must not import any deploybot
// package.
package browser
