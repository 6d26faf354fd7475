from . import res_company
from . import res_config_settings
from . import kleer_log
from . import kleer_job
from . import kleer_sync
from . import res_partner
from . import product
from . import account_move
