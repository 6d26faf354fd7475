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
// Kleer's own refusal, set as a sandbox fault by the test.
const REFUSAL = "Kunden är spärrad";
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

function badge(label) {
    return {
        content: `the invoice's Kleer state reads "${label}"`,
        trigger: `div[name=kleer_state_title] .o_field_widget[name=kleer_state]:contains("${label}")`,
    };
}

function confirmSteps(t) {
    return [
        {
            content: "confirm the invoice",
            trigger: ".o_form_view button[name=action_post]",
            run: "click",
        },
        badge(t.queued),
    ];
}

const TOURS = {
    // The admin: Settings > Invoicing > Kleer, Test connection, a Kleer responsible, Save.
    settings: (t) => [
        {
            content: "open the Invoicing settings",
            trigger: ".settings_tab [data-key=account]",
            run: "click",
        },
        {
            content: "test the connection",
            trigger: `button[name=action_kleer_test_connection]:contains("${t.testConnection}")`,
            run: "click",
        },
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
        {
            content: "back to the invoices",
            trigger: ".o_breadcrumb .breadcrumb-item a",
            run: "click",
        },
        {
            content: "open the draft invoice",
            trigger: `.o_data_row:has(td[name=status_in_payment]:contains("${t.draft}")) td[name=invoice_partner_display_name]`,
            run: "click",
        },
        ...confirmSteps(t),
    ],
    // The invoice opened by the test has reached Kleer.
    sent: (t) => [badge(t.sent), screenshot("invoice")],
    // Kleer refused an invoice: the billing user, its Kleer responsible,
    // finds it through the activity, then its log entry.
    failure: (t) => [
        {
            content: "open my activities",
            trigger: ".o_menu_systray .fa-clock-o",
            run: "click",
        },
        {
            content: "the invoices with an activity for me",
            trigger: ".o-mail-ActivityGroup[data-model_name='account.move']",
            run: "click",
        },
        {
            content: "open the invoice (the activity view lists it)",
            trigger: ".o_activity_view .o_activity_record",
            run: "click",
        },
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
        {
            content: "open the invoice's Kleer log",
            trigger: `button[name=action_kleer_open_logs]:contains("${t.logButton}")`,
            run: "click",
        },
        {
            content: "its entry",
            trigger: `.o_data_row:contains("${REFUSAL}") .o_data_cell`,
            run: "click",
        },
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
        {
            content: "the apps menu",
            trigger: ".o_navbar_apps_menu button",
            run: "click",
        },
        {
            content: "open Invoicing",
            trigger: ".o_app[data-menu-xmlid='account.menu_finance']",
            run: "click",
        },
        {
            content: "the Kleer menu",
            trigger: ".o_menu_sections [data-menu-xmlid='kleer_connector.menu_kleer_root']",
            run: "click",
        },
        {
            content: "its sync log",
            trigger: "[data-menu-xmlid='kleer_connector.menu_kleer_log']",
            run: "click",
        },
        {
            content: "the open failure",
            trigger: `.o_data_row:contains("${REFUSAL}") .o_data_cell`,
            run: "click",
        },
        {
            content: "reprocess it",
            trigger: `.o_form_view button[name=action_reprocess]:contains("${t.reprocess}")`,
            run: "click",
        },
        {
            content: "the entry is reprocessed",
            trigger: `.o_statusbar_status button.o_arrow_button_current:contains("${t.reprocessed}")`,
        },
        {
            content: "back to the invoice",
            trigger: ".o_form_view button[name=action_view_record]",
            run: "click",
        },
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
