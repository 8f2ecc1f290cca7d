"""The web app's controls, as a user works them, for the tests that drive it in headless Chromium."""

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 60


class Ui:
    """The page's controls, by the hooks the web app promises (``id`` and ``data-*`` attributes)."""

    def __init__(self, app):
        self.app = app
        self.browser = app.browser

    def wait(self, condition, message):
        return WebDriverWait(self.browser, WAIT).until(lambda _: condition(), message)

    def find(self, css):
        return self.wait(lambda: self.browser.find_elements(By.CSS_SELECTOR, css), f"no {css}\n"
                         f"{self.app.console()}")[0]

    def text(self, css):
        return self.browser.find_element(By.CSS_SELECTOR, css).text

    def type(self, css, text):
        field = self.find(css)
        field.clear()
        field.send_keys(text)

    def create_db(self, name):
        self.type("#new-db-name", name)
        self.find("#create-db").click()
        self.select_db(name)

    def select_db(self, name):
        self.find(f'[data-db="{name}"]').click()
        self.wait(lambda: self.text("#db-title") == name, f"{name} did not open")

    def doc_ids(self):
        return sorted(e.get_attribute("data-doc-id")
                      for e in self.browser.find_elements(By.CSS_SELECTOR, "[data-doc-id]"))

    def save(self, body, rev_prefix):
        editor = self.find("#doc-editor")
        editor.clear()
        editor.send_keys(body)
        self.find("#save-doc").click()
        self.wait(lambda: self.text("#doc-rev").startswith(rev_prefix),
                  f"no {rev_prefix} rev: {self.text('#doc-error')}")

    def replicate(self, url, direction, user="", password=""):
        before = len(self.browser.find_elements(By.CSS_SELECTOR, "#repl-log li"))
        self.type("#repl-url", url)
        self.type("#repl-user", user)
        self.type("#repl-password", password)
        self.find(f'#repl-direction option[value="{direction}"]').click()
        self.find("#repl-start").click()
        self.wait(lambda: len(self.browser.find_elements(By.CSS_SELECTOR, "#repl-log li")) > before,
                  "the run was not logged")

        def finished():
            status = self.find("#repl-log li").get_attribute("data-status")
            return status if status != "running" else None

        status = self.wait(finished, "the replication did not finish")
        assert status == "completed", self.text("#repl-log li")
