/** @odoo-module */
/* The Kleer flow as its users click it, run by tests/test_tour.py in two
 * languages: each tour is registered once per language with that
 * language's labels of the addon (Swedish from i18n/sv.po), so a missing
 * translation fails the Swedish run. Python sets up between tours what no
 * user does from the browser (Kleer's fault, the queue's scheduled action). */

import { registry } from "@web/core/registry";

const LABELS = {
    en: {
        testConnection: "Test connection",
        connectionWorks: "Kleer connection works",
        vatUnit: "VAT unit: Percent (25)",
        draft: "Draft", // Odoo's own invoice status
        queued: "Queued",
        sent: "Sent as draft",
        failed: "Failed",
        notTaken: "Kleer did not take this invoice",
        logButton: "Kleer log",
        reprocess: "Reprocess",
        reprocessed: "Reprocessed",
    },
    sv: {
        testConnection: "Testa anslutningen",
        connectionWorks: "Anslutningen till Kleer fungerar",
        vatUnit: "Momsenhet: Procent (25)",
        draft: "Utkast",
        queued: "I kö",
        sent: "Skickad som utkast",
        failed: "Misslyckades",
        notTaken: "Kleer tog inte emot fakturan",
        logButton: "Kleer-logg",
        reprocess: "Kör om",
        reprocessed: "Omkörd",
    },
};
// Kleer's own refusal, set as a sandbox fault by the test, and its log entry in a list.
const REFUSAL = "Kunden är spärrad";
const REFUSAL_ROW = `.o_data_row:contains("${REFUSAL}") .o_data_cell`;
const RESPONSIBLE = "Berit Fakturering";

/* Asks the test (tests/test_tour.py) to capture the page and waits until it
 * has: the next step must not change the page under the capture. */
function screenshot(name) {
    return {
        content: `screenshot ${name}`,
        trigger: "body:not(:has(.o_loading_indicator))",
        async run() {
            delete document.body.dataset.kleerScreenshot;
            console.log(`kleer-screenshot:${name}`);
            for (let i = 0; i < 200 && document.body.dataset.kleerScreenshot !== name; i++) {
                await new Promise((resolve) => setTimeout(resolve, 50));
            }
            if (document.body.dataset.kleerScreenshot !== name) {
                throw new Error(`screenshot ${name} was not taken`);
            }
        },
    };
}

/* A step that clicks ``trigger`` once it is on the page. */
function click(content, trigger) {
    return { content, trigger, run: "click" };
}

function badge(label) {
    return {
        content: `the invoice's Kleer state reads "${label}"`,
        trigger: `div[name=kleer_state_title] .o_field_widget[name=kleer_state]:contains("${label}")`,
    };
}

function confirmSteps(t) {
    return [
        click("confirm the invoice", ".o_form_view button[name=action_post]"),
        badge(t.queued),
    ];
}

const TOURS = {
    // The admin: Settings > Invoicing > Kleer, Test connection, a Kleer responsible, Save.
    settings: (t) => [
        click("open the Invoicing settings", ".settings_tab [data-key=account]"),
        click(
            "test the connection",
            `button[name=action_kleer_test_connection]:contains("${t.testConnection}")`
        ),
        {
            content: "Kleer answers; what Test connection found is in the user's language",
            trigger: `.o_notification:contains("${t.connectionWorks}"):contains("${t.vatUnit}")`,
        },
        screenshot("settings"),
        {
            content: "choose who gets Kleer's refusals",
            trigger: "div[name=kleer_responsible_id] input",
            run: `edit ${RESPONSIBLE}`,
        },
        {
            trigger: `.o-autocomplete--dropdown-item:contains("${RESPONSIBLE}")`,
            run: "click",
        },
        {
            content: "save the settings",
            trigger: ".o_form_button_save",
            run() {
                // Saving reloads the settings: this form (and its mark) goes.
                document.querySelector(".o-settings-form-view").dataset.kleerBeforeSave = "1";
                this.anchor.click();
            },
        },
        {
            content: "saved: the settings are shown again, with the responsible",
            trigger: `.o-settings-form-view:not([data-kleer-before-save]) div[name=kleer_responsible_id] input:value("${RESPONSIBLE}")`,
        },
    ],
    // The billing user confirms the invoice opened by the test.
    confirm: (t) => confirmSteps(t),
    // The invoice opened by the test has reached Kleer; the billing user
    // goes back to the list and confirms the next draft.
    next: (t) => [
        badge(t.sent),
        click("back to the invoices", ".o_breadcrumb .breadcrumb-item a"),
        click(
            "open the draft invoice",
            `.o_data_row:has(td[name=status_in_payment]:contains("${t.draft}")) td[name=invoice_partner_display_name]`
        ),
        ...confirmSteps(t),
    ],
    // The invoice opened by the test has reached Kleer.
    sent: (t) => [badge(t.sent), screenshot("invoice")],
    // Kleer refused an invoice: the billing user, its Kleer responsible,
    // finds it through the activity, then its log entry.
    failure: (t) => [
        click("open my activities", ".o_menu_systray .fa-clock-o"),
        click(
            "the invoices with an activity for me",
            ".o-mail-ActivityGroup[data-model_name='account.move']"
        ),
        click(
            "open the invoice (the activity view lists it)",
            ".o_activity_view .o_activity_record"
        ),
        badge(t.failed),
        {
            content: "the banner says what Kleer answered",
            trigger: `div[name=kleer_failed_banner]:contains("${REFUSAL}")`,
        },
        {
            content: "the activity is in the chatter",
            trigger: `.o-mail-Activity:contains("${t.notTaken}")`,
        },
        screenshot("invoice_failed"),
        click(
            "open the invoice's Kleer log",
            `button[name=action_kleer_open_logs]:contains("${t.logButton}")`
        ),
        click("its entry", REFUSAL_ROW),
        {
            content: "Kleer's answer and the XML sent are in the entry",
            trigger: `.o_form_view div[name=message]:contains("${REFUSAL}")`,
        },
        {
            trigger: ".o_form_view div[name=request_body]:contains('invoice')",
        },
        screenshot("log"),
    ],
    // Kleer is fine again: from the Kleer menu, Reprocess the open entry.
    reprocess: (t) => [
        click("the apps menu", ".o_navbar_apps_menu button"),
        click("open Invoicing", ".o_app[data-menu-xmlid='account.menu_finance']"),
        click(
            "the Kleer menu",
            ".o_menu_sections [data-menu-xmlid='kleer_connector.menu_kleer_root']"
        ),
        click("its sync log", "[data-menu-xmlid='kleer_connector.menu_kleer_log']"),
        click("the open failure", REFUSAL_ROW),
        click(
            "reprocess it",
            `.o_form_view button[name=action_reprocess]:contains("${t.reprocess}")`
        ),
        {
            content: "the entry is reprocessed",
            trigger: `.o_statusbar_status button.o_arrow_button_current:contains("${t.reprocessed}")`,
        },
        click("back to the invoice", ".o_form_view button[name=action_view_record]"),
        badge(t.queued),
    ],
};

for (const [lang, labels] of Object.entries(LABELS)) {
    for (const [name, steps] of Object.entries(TOURS)) {
        registry.category("web_tour.tours").add(`kleer_${name}_${lang}`, {
            steps: () => steps(labels),
        });
    }
}
