"""diffim's ``sip`` register plugin: star-matched registration of the template to the science."""
from .config import SipRegisterConfig
from .errors import InsufficientMatchesError
from .fit import Registration
from .register import SipRegister, findRegistration, registerTemplate

__all__ = ["InsufficientMatchesError", "Registration", "SipRegister", "SipRegisterConfig",
           "findRegistration", "registerTemplate"]
