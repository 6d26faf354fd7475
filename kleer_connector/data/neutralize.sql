-- Staging copies must never talk to the production Kleer.
UPDATE res_company
   SET kleer_enabled = FALSE,
       kleer_token = NULL;
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'kleer_connector' AND model = 'ir.cron');
UPDATE kleer_job SET state = 'ignored' WHERE state IN ('pending', 'sending');
