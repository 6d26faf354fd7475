from . import test_settings
from . import test_queue
from . import test_queue_concurrency
from . import test_sync_customers
from . import test_invoice_post
from . import test_sync_master_data
from . import test_sync_scale
from . import test_queue_invoices
