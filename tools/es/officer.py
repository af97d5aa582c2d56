"""Spanish for the second factor's pages and the officer gate (branch ``officer``)."""

ES = {
    "Ask for a code from your phone after your password": (
        "Pedir un código de tu móvil después de la contraseña"
    ),
    "Cannot scan it? Add the account by hand with this key (time-based, 6 digits):": (
        "¿No puedes escanearlo? Añade la cuenta a mano con esta clave (basada en el tiempo, "
        "6 dígitos):"
    ),
    "Code from your authenticator app": "Código de tu app de autenticación",
    "Continue": "Continuar",
    "Enter your code": "Introduce tu código",
    "Even someone who learns your password cannot sign in without your phone.": (
        "Aunque alguien conozca tu contraseña, no podrá iniciar sesión sin tu móvil."
    ),
    "For your security, confirm it is you before you go on.": (
        "Por tu seguridad, confirma que eres tú antes de continuar."
    ),
    "I have saved them: continue": "Ya los he guardado: continuar",
    "If you lose your phone, each of these codes lets you sign in once instead of a code "
    "from the app. Keep them somewhere safe, away from your phone.": (
        "Si pierdes el móvil, cada uno de estos códigos te permite iniciar sesión una vez en "
        "lugar del código de la app. Guárdalos en un lugar seguro, lejos del móvil."
    ),
    "Lost your phone? Use a recovery code": "¿Has perdido el móvil? Usa un código de recuperación",
    "Make new recovery codes": "Crear nuevos códigos de recuperación",
    "New recovery codes": "Nuevos códigos de recuperación",
    "One of the codes you saved when you set up two-step sign-in, like abcd-efgh-ijkl. "
    "Each works once.": (
        "Uno de los códigos que guardaste al activar la verificación en dos pasos, como "
        "abcd-efgh-ijkl. Cada uno sirve una sola vez."
    ),
    "Open an authenticator app on your phone (any app for time-based codes) and scan this "
    "QR code.": (
        "Abre una app de autenticación en tu móvil (cualquiera de códigos basados en el "
        "tiempo) y escanea este código QR."
    ),
    "Open the app on your phone and type the 6 digits it shows for this account.": (
        "Abre la app en tu móvil y escribe los 6 dígitos que muestra para esta cuenta."
    ),
    "Or your password": "O tu contraseña",
    "Print this page, or copy the codes into your password manager.": (
        "Imprime esta página o copia los códigos en tu gestor de contraseñas."
    ),
    "Protect your account with a second step: after your password, a code from an "
    "authenticator app on your phone.": (
        "Protege tu cuenta con un segundo paso: después de la contraseña, un código de una "
        "app de autenticación en tu móvil."
    ),
    "QR code that adds this account to your authenticator app": (
        "Código QR que añade esta cuenta a tu app de autenticación"
    ),
    "Recovery code": "Código de recuperación",
    "Recovery codes left: %(count)s of 10.": "Te quedan %(count)s de 10 códigos de recuperación.",
    "Set up an authenticator app": "Configurar una app de autenticación",
    "Sign in again": "Volver a iniciar sesión",
    "Since %(when)s. After your password we ask for a code from your authenticator app.": (
        "Desde el %(when)s. Después de tu contraseña te pedimos un código de tu app de "
        "autenticación."
    ),
    "Start again with a new key": "Empezar de nuevo con otra clave",
    "That code has been used already. Wait for the app to show a new one.": (
        "Ese código ya se ha usado. Espera a que la app muestre uno nuevo."
    ),
    "That code is not right. Check the app shows this account, and type the code it shows now.": (
        "Ese código no es correcto. Comprueba que la app muestra esta cuenta y escribe el "
        "código que aparece ahora."
    ),
    "That password is not right.": "Esa contraseña no es correcta.",
    "The page you asked for needs two-step sign-in. Set it up to go on.": (
        "La página que has pedido necesita la verificación en dos pasos. Actívala para continuar."
    ),
    "These are your new recovery codes. The old ones no longer work.": (
        "Estos son tus nuevos códigos de recuperación. Los anteriores ya no sirven."
    ),
    "This page is for privacy officers": "Esta página es para responsables de privacidad",
    "To confirm it is you, enter a code from your app, or your password if you no longer "
    "have the app.": (
        "Para confirmar que eres tú, introduce un código de tu app, o tu contraseña si ya no "
        "tienes la app."
    ),
    "Turn off": "Desactivar",
    "Turn off two-step sign-in": "Desactivar la verificación en dos pasos",
    "Turn on two-step sign-in": "Activar la verificación en dos pasos",
    "Two-step sign-in": "Verificación en dos pasos",
    "Two-step sign-in is off: you sign in with your password only.": (
        "La verificación en dos pasos está desactivada: inicias sesión solo con tu contraseña."
    ),
    "Two-step sign-in is on. From now on we ask for a code from your app after your password.": (
        "La verificación en dos pasos está activada. A partir de ahora te pediremos un código "
        "de tu app después de la contraseña."
    ),
    "Type the 6-digit code the app now shows, to check it works.": (
        "Escribe el código de 6 dígitos que muestra ahora la app, para comprobar que funciona."
    ),
    "Use the code from the app": "Usar el código de la app",
    "Used most of them, or lost them? Make ten new ones; the old ones stop working.": (
        "¿Has usado casi todos o los has perdido? Crea diez nuevos; los anteriores dejarán de "
        "servir."
    ),
    "We show them only now: save them before you leave this page.": (
        "Solo te los mostramos ahora: guárdalos antes de salir de esta página."
    ),
    "Your account does not have access to it. If you need it, ask an operator to grant you "
    "the officer role.": (
        "Tu cuenta no tiene acceso. Si lo necesitas, pide a un operador que te conceda el rol "
        "de responsable."
    ),
    "Your password is right. One more step: your account asks for a second code.": (
        "Tu contraseña es correcta. Un paso más: tu cuenta pide un segundo código."
    ),
    "Your recovery codes": "Tus códigos de recuperación",
    "Your sign-in took too long. Please sign in again.": (
        "El inicio de sesión ha tardado demasiado. Vuelve a iniciar sesión, por favor."
    ),
    "on": "activada",
}
