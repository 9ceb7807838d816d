//! Every word the web interface shows, in French (the default) and English. One dictionary:
//! a message is an enum variant, so a missing translation does not compile.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fr,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim() {
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The first language of `Accept-Language` that we speak; French otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        for part in header.split(',') {
            let tag = part.split(';').next().unwrap_or_default().trim();
            let primary = tag
                .split('-')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            if let Some(lang) = Lang::parse(&primary) {
                return lang;
            }
        }
        Lang::Fr
    }

    pub fn t(self, m: M) -> &'static str {
        m.text(self)
    }

    /// A message with `{}` holes filled in order.
    pub fn f(self, m: M, args: &[&str]) -> String {
        let mut out = String::new();
        let mut args = args.iter();
        let mut parts = m.text(self).split("{}").peekable();
        while let Some(part) = parts.next() {
            out.push_str(part);
            if parts.peek().is_some() {
                out.push_str(args.next().copied().unwrap_or_default());
            }
        }
        out
    }

    /// An amount of cents the way people read it here: `1 234,50 €` or `€1,234.50`.
    pub fn money(self, cents: i64) -> String {
        let sign = if cents < 0 { "−" } else { "" };
        let abs = cents.unsigned_abs();
        let (units, rest) = (abs / 100, abs % 100);
        let digits = units.to_string();
        let sep = match self {
            Lang::Fr => '\u{202f}',
            Lang::En => ',',
        };
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(sep);
            }
            grouped.push(c);
        }
        match self {
            Lang::Fr => format!("{sign}{grouped},{rest:02}\u{a0}€"),
            Lang::En => format!("{sign}€{grouped}.{rest:02}"),
        }
    }

    /// A date the way people write it: `1 décembre 2026`, `1 December 2026`.
    pub fn date(self, d: chrono::NaiveDate) -> String {
        use chrono::Datelike;
        const FR: [&str; 12] = [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ];
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        let month = d.month0() as usize;
        match self {
            Lang::Fr if d.day() == 1 => format!("1er {} {}", FR[month], d.year()),
            Lang::Fr => format!("{} {} {}", d.day(), FR[month], d.year()),
            Lang::En => format!("{} {} {}", d.day(), EN[month], d.year()),
        }
    }

    /// A decimal string of the API (`"-12.50"`) shown as money; unreadable text as it is.
    pub fn money_str(self, s: &str) -> String {
        parse_cents(s).map_or_else(|| s.to_string(), |c| self.money(c))
    }
}

/// `"12.50"`, `"-3"`, `"0.5"` → cents. Only for display of amounts the API produced.
pub fn parse_cents(s: &str) -> Option<i64> {
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (units, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 || units.is_empty() {
        return None;
    }
    let units: i64 = units.parse().ok()?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    let v = units.checked_mul(100)?.checked_add(frac)?;
    Some(if neg { -v } else { v })
}

macro_rules! messages {
    ($($key:ident => $fr:expr, $en:expr;)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum M { $($key),+ }
        impl M {
            pub fn text(self, lang: Lang) -> &'static str {
                match (self, lang) {
                    $((M::$key, Lang::Fr) => $fr, (M::$key, Lang::En) => $en,)+
                }
            }
        }
    };
}

messages! {
    AppName => "Caisse alimentaire", "Food fund";
    SkipToContent => "Aller au contenu", "Skip to content";
    Language => "Langue", "Language";
    OtherLanguage => "English", "Français";
    Logout => "Se déconnecter", "Sign out";
    MainMenu => "Menu principal", "Main menu";
    // Login
    LoginTitle => "Connexion", "Sign in";
    LoginIntro => "Connectez-vous avec l'adresse e-mail et le mot de passe que la caisse vous a donnés.",
        "Sign in with the email address and password the fund gave you.";
    Email => "Adresse e-mail", "Email address";
    Password => "Mot de passe", "Password";
    SignIn => "Se connecter", "Sign in";
    WrongCredentials => "Adresse e-mail ou mot de passe incorrect.", "Wrong email address or password.";
    TooManyAttempts => "Trop de tentatives de connexion. Attendez une minute avant de réessayer : d'ici là, même le bon mot de passe est refusé.",
        "Too many sign-in attempts. Wait a minute before trying again: until then, even the right password is refused.";
    TillLoginTitle => "Ouvrir une caisse de commerce", "Open a shop's till";
    TillLoginIntro => "Collez une fois la clé de caisse (ct_…) reçue de la caisse alimentaire ; ce navigateur restera connecté comme caisse.",
        "Paste once the till key (ct_…) the fund gave you; this browser then stays signed in as the till.";
    TillKey => "Clé de caisse", "Till key";
    OpenTill => "Ouvrir la caisse", "Open the till";
    WrongTillKey => "Clé de caisse inconnue ou révoquée.", "Unknown or revoked till key.";
    ForgotLink => "Mot de passe oublié ?", "Forgotten your password?";
    // Choosing one's password from a link
    LinkTitle => "Choisir mon mot de passe", "Choose my password";
    LinkIntroInvitation => "Bienvenue ! Choisissez le mot de passe de votre compte ; vous serez connecté·e juste après.",
        "Welcome! Choose the password of your account; you will be signed in right after.";
    LinkIntroReset => "Choisissez votre nouveau mot de passe ; l'ancien ne marchera plus et vous serez connecté·e juste après.",
        "Choose your new password; the old one stops working and you will be signed in right after.";
    LinkUntil => "Ce lien ne sert qu'une fois, jusqu'au {} à {} (heure de la caisse).",
        "This link works once, until {} at {} (the fund's time).";
    NewPassword => "Nouveau mot de passe", "New password";
    PasswordAgain => "Le même mot de passe, encore une fois", "The same password again";
    PasswordHelp => "10 caractères au moins. Une phrase de quelques mots est facile à retenir et difficile à deviner.",
        "At least 10 characters. A sentence of a few words is easy to remember and hard to guess.";
    SavePassword => "Enregistrer mon mot de passe", "Save my password";
    ForgotTitle => "Mot de passe oublié", "Forgotten password";
    ForgotHow => "Retrouver l'accès à votre compte", "Get back into your account";
    YourAccount => "Votre compte", "Your account";
    LinkDead => "Lien expiré ou déjà utilisé", "Expired or used link";
    ForgotIntro => "Donnez l'adresse e-mail de votre compte : nous y enverrons un lien pour choisir un nouveau mot de passe.",
        "Give the email address of your account: we will send a link there to choose a new password.";
    ForgotSend => "Recevoir un lien", "Send me a link";
    ForgotSent => "Si cette adresse a un compte, un lien vient d'y être envoyé. Il marche deux heures ; pensez à regarder les indésirables.",
        "If this address has an account, a link was just sent to it. It works for two hours; check the spam folder too.";
    ForgotNoMail => "Cette caisse n'envoie pas d'e-mails : demandez un lien de nouveau mot de passe à un·e administrateur·rice de la caisse.",
        "This fund sends no email: ask one of the fund's administrators for a new-password link.";
    ForgotAsk => "Demander un nouveau lien", "Ask for a new link";
    BackToLogin => "Retour à la connexion", "Back to sign in";
    // Errors
    Forbidden => "Cette page n'est pas ouverte à votre rôle.", "Your role cannot open this page.";
    ForbiddenTitle => "Accès refusé", "Access denied";
    CsrfFailed => "Le formulaire a expiré ou ne vient pas de cette page. Rechargez la page et recommencez.",
        "The form has expired or did not come from this page. Reload the page and try again.";
    NotFound => "Page introuvable.", "Page not found.";
    ErrorTitle => "Erreur", "Error";
    InternalError => "Une erreur est survenue de notre côté ; rien n'a été modifié.",
        "Something went wrong on our side; nothing was changed.";
    Done => "C'est fait.", "Done.";
    // Navigation
    NavMember => "Mon compte", "My account";
    NavShops => "Commerces conventionnés", "Approved shops";
    NavCard => "Carte imprimable", "Printable card";
    NavTill => "Caisse", "Till";
    NavCommittee => "Comité", "Committee";
    NavTreasurer => "Trésorerie", "Treasury";
    NavAdmin => "Administration", "Administration";
    NavPeople => "Personnes", "People";
    // Member
    MemberTitle => "Mon compte", "My account";
    Balance => "Solde disponible", "Balance to spend";
    MonthlyAllowance => "Allocation mensuelle", "Monthly allowance";
    MonthlyContribution => "Cotisation mensuelle", "Monthly contribution";
    ContributionsDue => "Cotisation restant à payer", "Contribution left to pay";
    PaymentReference => "Référence de virement", "Transfer reference";
    History => "Historique", "History";
    NoHistory => "Aucun mouvement pour l'instant.", "No movement yet.";
    Date => "Date", "Date";
    Label => "Libellé", "Label";
    Amount => "Montant", "Amount";
    Account => "Compte", "Account";
    AccountAllowance => "Allocation", "Allowance";
    AccountContribution => "Cotisation", "Contribution";
    QrTitle => "Mon code à présenter en caisse", "My code to show at the till";
    QrHelp => "Le commerçant scanne ce code. Il change toutes les 30 secondes et ne sert qu'une fois.",
        "The shop scans this code. It changes every 30 seconds and works only once.";
    QrAlt => "Code QR de paiement", "Payment QR code";
    QrCountdown => "Nouveau code dans {} s", "New code in {} s";
    QrNoScript => "Rechargez la page pour obtenir un nouveau code.", "Reload the page for a new code.";
    NoCard => "Vous n'avez pas encore de carte sur téléphone.", "You do not have a phone card yet.";
    CreateAppCard => "Créer ma carte sur ce téléphone", "Create my phone card";
    CardCreated => "Votre carte est prête.", "Your card is ready.";
    CardSecretHint => "Secret de la carte (pour une application d'authentification), montré une seule fois :",
        "Card secret (for an authenticator app), shown only once:";
    PrintTitle => "Ma carte imprimable", "My printable card";
    PrintHelp => "Imprimez cette carte : en caisse, le commerçant la scanne et vous tapez votre code PIN.",
        "Print this card: at the till the shop scans it and you type your PIN.";
    PrintNone => "Vous n'avez pas de carte imprimée. Demandez-en une à la trésorerie de la caisse : elle vous donnera aussi un code PIN.",
        "You have no printed card. Ask the fund's treasurer for one: you will also get a PIN.";
    Print => "Imprimer", "Print";
    CardNumber => "Carte n°", "Card no.";
    ShopsTitle => "Commerces conventionnés", "Approved shops";
    ShopsNone => "Aucun commerce conventionné pour l'instant.", "No approved shop yet.";
    Name => "Nom", "Name";
    Address => "Adresse", "Address";
    Categories => "Catégories", "Categories";
    // Till
    TillTitle => "Caisse", "Till";
    TillClock => "{} (heure de la caisse)", "{} (the fund's time)";
    TillShopNotAccepting => "Ce commerce n'est pas conventionné en ce moment (en attente ou suspendu) : les paiements sont refusés. Le comité ou l'administration de la caisse peut vous dire pourquoi.",
        "This shop is not approved at the moment (pending or suspended): payments are refused. The fund's committee or administration can tell you why.";
    TillHelp => "Tapez le montant, puis scannez le code du client (la douchette valide avec Entrée).",
        "Type the amount, then scan the customer's code (the scanner ends with Enter).";
    AmountEuros => "Montant (€)", "Amount (€)";
    Code => "Code scanné", "Scanned code";
    Pin => "Code PIN (carte imprimée)", "PIN (printed card)";
    ManualEntry => "Saisie manuelle", "Manual entry";
    CardId => "Numéro de carte", "Card number";
    CardCode => "Code à 8 chiffres (vide pour une carte imprimée)", "8-digit code (empty for a printed card)";
    Pay => "Encaisser", "Take payment";
    ScanCamera => "Scanner avec la caméra", "Scan with the camera";
    StopCamera => "Arrêter la caméra", "Stop the camera";
    CameraUnavailable => "Caméra indisponible : utilisez la douchette ou la saisie manuelle.",
        "Camera unavailable: use the scanner or manual entry.";
    Approved => "Paiement accepté", "Payment approved";
    Declined => "Paiement refusé", "Payment declined";
    AlreadyRecorded => "Déjà enregistré à {} (heure de la caisse), ce n'est pas un nouveau paiement",
        "Already recorded at {} (till time): this is not a new payment";
    AlreadyRecordedHelp => "Rien n'a été encaissé cette fois. Pour une nouvelle vente, saisissez-la à nouveau ci-dessous.",
        "Nothing was taken this time. For a new sale, enter it again below.";
    RefundAlreadyRecorded => "Remboursement déjà enregistré à {} (heure de la caisse), ce n'est pas un nouveau remboursement.",
        "Refund already recorded at {} (till time): this is not a new refund.";
    RemainingBalance => "Solde restant du client", "Customer's remaining balance";
    TodaySales => "Ventes du jour", "Today's sales";
    NoSales => "Aucune vente aujourd'hui.", "No sale today.";
    Refunded => "Remboursé", "Refunded";
    Refund => "Rembourser", "Refund";
    RefundAmount => "Montant à rembourser (€)", "Amount to refund (€)";
    RefundDone => "Remboursement enregistré.", "Refund recorded.";
    TotalSales => "Total des ventes", "Total sales";
    TotalRefunds => "Total des remboursements", "Total refunds";
    // Declines in plain words
    DeclineTokenInvalid => "Ce code n'est pas reconnu. Demandez au client d'afficher à nouveau son code.",
        "This code is not recognised. Ask the customer to show their code again.";
    DeclineTokenExpired => "Ce code a expiré. Demandez au client le nouveau code affiché.",
        "This code has expired. Ask the customer for the new code on screen.";
    DeclineTokenReused => "Ce code a déjà servi. Attendez le code suivant (30 secondes au plus).",
        "This code was already used. Wait for the next code (30 seconds at most).";
    DeclineCardRevoked => "Cette carte a été annulée.", "This card was cancelled.";
    DeclineCardLocked => "Cette carte est bloquée après trop de codes PIN faux. Le client doit contacter la caisse.",
        "This card is locked after too many wrong PINs. The customer must contact the fund.";
    DeclinePinRequired => "Cette carte imprimée demande le code PIN du client.", "This printed card needs the customer's PIN.";
    DeclinePinWrong => "Code PIN faux.", "Wrong PIN.";
    DeclineMemberInactive => "Cette carte ne peut pas payer en ce moment.", "This card cannot pay at the moment.";
    DeclineShopNotApproved => "Ce commerce ne peut pas encaisser en ce moment (non conventionné ou suspendu).",
        "This shop cannot take payments at the moment (not approved or suspended).";
    DeclineInsufficientBalance => "Le solde du client ne suffit pas pour ce montant.", "The customer's balance is not enough for this amount.";
    DeclineAmountInvalid => "Montant invalide : un nombre positif avec au plus deux décimales, par exemple 12,50.",
        "Invalid amount: a positive number with at most two decimals, for example 12.50.";
    DeclineRateLimited => "Trop de paiements d'un coup : attendez un instant et recommencez.",
        "Too many payments at once: wait a moment and try again.";
    DeclineOther => "Le paiement n'a pas pu être fait.", "The payment could not be made.";
    RefundTooMuch => "Ce remboursement dépasse ce qui reste remboursable sur la vente.",
        "This refund is more than what is left to refund on the sale.";
    SaleReversed => "Annulée par la trésorerie", "Reversed by the treasurer";
    RefundSaleReversed => "Cette vente a été annulée par la trésorerie : il n'y a plus rien à rembourser.",
        "This sale was reversed by the treasurer: there is nothing left to refund.";
    // Committee
    CommitteeTitle => "Comité : demandes de conventionnement", "Committee: shop applications";
    PendingNone => "Aucune demande en attente.", "No pending application.";
    Criteria => "Critères de la caisse", "The fund's criteria";
    NoAnswer => "(pas de réponse)", "(no answer)";
    Tally => "Décompte des voix", "Tally";
    VotesFor => "Pour", "For";
    VotesAgainst => "Contre", "Against";
    VotesAbstain => "Abstention", "Abstain";
    YourVote => "Votre vote", "Your vote";
    Comment => "Commentaire (facultatif)", "Comment (optional)";
    Vote => "Voter", "Vote";
    VoteRecorded => "Vote enregistré.", "Vote recorded.";
    Siret => "SIRET", "SIRET";
    Status => "Statut", "Status";
    // Treasurer
    TreasurerTitle => "Tableau de bord de la trésorerie", "Treasury dashboard";
    Summary => "Chiffres clés", "Key figures";
    ContributionsCalled => "Cotisations appelées", "Contributions called";
    ContributionsReceived => "Cotisations reçues", "Contributions received";
    AllowancesIssued => "Allocations versées", "Allowances issued";
    AllowancesSpent => "Allocations dépensées", "Allowances spent";
    BankBalance => "Solde bancaire de la caisse", "Fund's bank balance";
    CoverageRatio => "Taux de couverture (cotisations ÷ allocations)", "Coverage ratio (contributions ÷ allowances)";
    OutstandingAllowances => "Allocations non dépensées", "Unspent allowances";
    OwedToShops => "Dû aux commerces", "Owed to shops";
    ChartContributions => "Cotisations appelées et reçues, par mois", "Contributions called and received, per month";
    ChartAllowances => "Allocations versées et dépensées, par mois", "Allowances issued and spent, per month";
    ChartShops => "Dépenses par commerce", "Spending per shop";
    ChartBank => "Solde bancaire en fin de mois", "Bank balance at month end";
    Called => "Appelées", "Called";
    Received => "Reçues", "Received";
    Issued => "Versées", "Issued";
    Spent => "Dépensées", "Spent";
    NoData => "Pas encore de données.", "No data yet.";
    Actions => "Opérations", "Operations";
    Period => "Mois (AAAA-MM)", "Month (YYYY-MM)";
    CallContributions => "Appeler les cotisations du mois", "Call the month's contributions";
    IssueAllowances => "Verser les allocations du mois", "Issue the month's allowances";
    CallResult => "{} adhérents appelés, total {}.", "{} members called, total {}.";
    IssueResult => "{} adhérents crédités, total {}.", "{} members credited, total {}.";
    Simulator => "Simulateur de cotisations", "Contribution simulator";
    SimulatorHelp => "Barème par tranches sur le revenu mensuel par unité de consommation, appliqué aux adhérents actuels.",
        "Brackets on the monthly income per consumption unit, applied to the current members.";
    Minimum => "Cotisation minimale (€)", "Minimum contribution (€)";
    BracketUpTo => "Tranche {} : revenu jusqu'à (€, vide = au-delà)", "Bracket {}: income up to (€, empty = above)";
    BracketAmount => "Tranche {} : cotisation (€)", "Bracket {}: contribution (€)";
    Simulate => "Simuler", "Simulate";
    SimResult => "{} adhérents : cotisations {} par mois, allocations {} par mois, couverture {}, subventions nécessaires {}.",
        "{} members: contributions {} a month, allowances {} a month, coverage {}, subsidies needed {}.";
    Accounting => "Comptabilité", "Accounting";
    TrialBalance => "Balance des comptes", "Trial balance";
    Debit => "Débit", "Debit";
    Credit => "Crédit", "Credit";
    TillTime => "Heure", "Time";
    PaidToShops => "Payé aux commerces (vu sur les relevés)", "Paid to shops (seen on statements)";
    SummaryNote => "Depuis la première écriture jusqu'à aujourd'hui ; soldes à ce jour.",
        "From the first entry to today; balances as of today.";
    // Month end
    Settlements => "Règlement des commerces", "Shop settlements";
    SettlementHelp => "Les ventes et remboursements antérieurs à la date limite et pas encore réglés forment un règlement : un virement par commerce.",
        "Sales and refunds before the cutoff not yet settled make one settlement: one transfer per shop.";
    Cutoff => "Date limite (UTC, AAAA-MM-JJTHH:MM:SSZ ; vide = maintenant)", "Cutoff (UTC, YYYY-MM-DDTHH:MM:SSZ; empty = now)";
    Settle => "Régler les commerces", "Settle the shops";
    SettlementDone => "Règlement créé : {} virements, total {}. Téléchargez le fichier SEPA et remettez-le à la banque.",
        "Settlement created: {} transfers, total {}. Download the SEPA file and hand it to the bank.";
    SettlementAlreadyDone => "Règlement déjà créé à {} (heure de la caisse) : ce n'est pas un nouveau règlement, aucun nouveau virement.",
        "Settlement already made at {} (fund time): this is not a new settlement, no new transfer.";
    SettlementLines => "Virements du règlement du {}", "Transfers of the settlement of {}";
    Shop => "Commerce", "Shop";
    EndToEndId => "Référence du virement (EndToEndId)", "Transfer reference (EndToEndId)";
    LinePaid => "payé", "paid";
    LineUnpaid => "à payer", "unpaid";
    PastSettlements => "Règlements précédents", "Past settlements";
    CreatedAt => "Créé le (UTC)", "Created (UTC)";
    CutoffCol => "Date limite (UTC)", "Cutoff (UTC)";
    Total => "Total", "Total";
    SepaFile => "Fichier de virements SEPA", "SEPA transfer file";
    SepaLink => "Télécharger (XML pain.001)", "Download (pain.001 XML)";
    SepaOfSettlement => "Fichier SEPA du règlement à la date limite {}", "SEPA file of the settlement with cutoff {}";
    SepaOfLine => "Fichier SEPA contenant le virement {}", "SEPA file holding the transfer {}";
    NoSettlements => "Aucun règlement pour l'instant.", "No settlement yet.";
    Statement => "Relevé bancaire", "Bank statement";
    StatementHelp => "Choisissez le relevé reçu de la banque (camt.053 en XML, ou CSV avec les colonnes date,amount,reference,counterparty ; montant négatif = sortie), ou collez son contenu. Un relevé déjà importé n'importe rien.",
        "Choose the statement from the bank (camt.053 XML, or CSV with the columns date,amount,reference,counterparty; negative amount = money out), or paste its content. A statement already imported imports nothing.";
    StatementFile => "Fichier du relevé", "Statement file";
    StatementText => "Contenu du relevé", "Statement content";
    ImportStatement => "Importer le relevé", "Import the statement";
    ImportResult => "{} lignes importées, {} déjà importées, {} rapprochées, {} sans correspondance.",
        "{} lines imported, {} already imported, {} matched, {} unmatched.";
    StatementEmpty => "Choisissez un fichier ou collez le contenu du relevé.", "Choose a file or paste the statement's content.";
    Reconciliation => "Rapprochement bancaire", "Bank reconciliation";
    UnmatchedBankLines => "Lignes du relevé sans correspondance", "Bank lines without a match";
    UnpaidLines => "Virements aux commerces pas encore vus sur un relevé", "Transfers to shops not yet seen on a statement";
    Reference => "Libellé / référence", "Text / reference";
    Counterparty => "Contrepartie", "Counterparty";
    NothingLeft => "Rien en attente.", "Nothing waiting.";
    MatchByHand => "Rapprocher à la main", "Match by hand";
    MatchTransfer => "Virement", "Transfer";
    MatchMember => "Adhérent (n° ou référence)", "Member (number or reference)";
    MatchLine => "Rapprocher", "Match";
    NoTransferOfThisAmount => "Aucun virement en attente de ce montant.", "No transfer of this amount is waiting.";
    NoSuchMember => "Aucun adhérent n'a ce numéro ni cette référence de paiement.", "No member has this number or payment reference.";
    LineMatched => "Ligne rapprochée et comptabilisée.", "Line matched and booked.";
    Exports => "Exports comptables", "Accounting exports";
    Year => "Année (AAAA)", "Year (YYYY)";
    DownloadFec => "Télécharger le FEC", "Download the FEC";
    DownloadJournal => "Télécharger le journal (CSV)", "Download the journal (CSV)";
    NothingToSettle => "Rien à régler : aucune vente ni aucun remboursement non réglé avant cette date limite.",
        "Nothing to settle: no unsettled sale or refund before this cutoff.";
    CutoffInFuture => "La date limite est dans le futur : choisissez un instant passé, ou laissez le champ vide pour « maintenant ».",
        "The cutoff is in the future: choose a past instant, or leave the field empty for “now”.";
    StatementUnbalanced => "Le relevé ne tombe pas juste (solde d'ouverture + mouvements ≠ solde de clôture) : rien n'a été importé. Vérifiez que le fichier est complet.",
        "The statement does not add up (opening balance + movements ≠ closing balance): nothing was imported. Check that the file is complete.";
    StatementUnreadable => "Ce fichier n'est pas un relevé lisible (camt.053 ou CSV) : rien n'a été importé.",
        "This file is not a readable statement (camt.053 or CSV): nothing was imported.";
    StatementInvalid => "Le relevé contient une ligne invalide : rien n'a été importé.",
        "The statement has an invalid line: nothing was imported.";
    FundIbanMissing => "La caisse n'a pas encore d'IBAN : l'administration doit le saisir dans les règles de la caisse.",
        "The fund has no IBAN yet: an admin must enter it in the fund rules.";
    StatementTooLarge => "Le relevé est trop grand (plus de 16 Mio, de 100 000 lignes ou d'un million de nœuds XML) : découpez-le.",
        "The statement is too large (over 16 MiB, 100,000 lines or a million XML nodes): split it.";
    InputTooDeep => "Le texte envoyé imbrique beaucoup trop de niveaux (un relevé en a une douzaine) : rien n'a été importé ni enregistré.",
        "The text sent nests far too many levels (a statement has about twelve): nothing was imported or saved.";
    FieldHasNul => "Le champ « {} » contient un caractère interdit (NUL) : retirez-le et recommencez.",
        "The field “{}” holds a forbidden character (NUL): remove it and try again.";
    // Refusals by code (web::problem): every ErrorCode has a sentence; `{}` is the field.
    ErrMalformedJson => "Le texte envoyé n'est pas du JSON valide : vérifiez {}.", "The text sent is not valid JSON: check {}.";
    ErrBodyUnreadable => "Le formulaire n'a pas pu être lu. Rechargez la page et recommencez.", "The form could not be read. Reload the page and try again.";
    ErrMalformedQuery => "L'adresse de la page est mal formée.", "The page's address is malformed.";
    ErrIdempotencyKey => "Le formulaire a perdu son identifiant d'envoi. Rechargez la page et recommencez.", "The form lost its submission key. Reload the page and try again.";
    ErrUnauthenticated => "Votre session a expiré : reconnectez-vous.", "Your session has expired: sign in again.";
    ErrNotFound => "Introuvable : cet élément n'existe pas ou n'appartient pas à votre caisse.", "Not found: this item does not exist or belongs to another fund.";
    ErrMethodNotAllowed => "Cette action n'est pas possible sur cette page.", "This action is not possible on this page.";
    ErrUnsupportedMediaType => "Ce type de fichier n'est pas accepté ici.", "This kind of file is not accepted here.";
    ErrAlreadyExists => "Cet élément existe déjà (vérifiez {}).", "This already exists (check {}).";
    ErrIdempotencyKeyReused => "Ce formulaire a déjà été envoyé avec d'autres valeurs. Rechargez la page et recommencez.", "This form was already sent with other values. Reload the page and try again.";
    ErrAlreadyReversed => "Cette écriture a déjà été annulée.", "This entry was already reversed.";
    ErrReversalNotReversible => "Cette écriture est elle-même une annulation : elle ne s'annule pas.", "This entry is itself a reversal: it cannot be reversed.";
    ErrEntryNotReversible => "Cette écriture ne s'annule pas seule.", "This entry is not reversed on its own.";
    ErrRedemptionRefunded => "Cette vente a des remboursements : annulez-les d'abord.", "This sale has refunds: reverse them first.";
    ErrInvalidStatusChange => "Ce changement de statut n'est pas possible depuis le statut actuel.", "This status change is not possible from the current status.";
    ErrMemberLeft => "Cet adhérent a quitté la caisse.", "This member has left the fund.";
    ErrMemberNotActive => "Seul un adhérent actif peut recevoir une carte.", "Only an active member can get a card.";
    ErrBankLineAlreadyMatched => "Cette ligne du relevé est déjà rapprochée.", "This bank line is already matched.";
    ErrTerminalKeyNotASession => "Une clé de caisse ne se ferme pas comme une session.", "A till key is not closed like a session.";
    ErrLinkInvalid => "Ce lien ne marche plus : il a déjà servi, un lien plus récent l'a remplacé, ou il a expiré.",
        "This link no longer works: it was already used, a newer link replaced it, or it expired.";
    ErrValidation => "Vérifiez {} : la valeur saisie n'est pas acceptée.", "Check {}: the value entered is not accepted.";
    ErrMissingField => "Il manque {}.", "{} is missing.";
    ErrUnknownField => "Le formulaire contient un champ inconnu ({}).", "The form holds a field this page does not know ({}).";
    ErrInvalidBody => "Le formulaire est incomplet ou mal rempli : vérifiez {}.", "The form is incomplete or badly filled in: check {}.";
    ErrInvalidQuery => "L'adresse de la page contient un paramètre refusé ({}).", "The page's address holds a refused parameter ({}).";
    ErrPinInvalid => "Le code PIN doit avoir 4 à 6 chiffres.", "The PIN must have 4 to 6 digits.";
    ErrMemberNotFound => "Aucun adhérent ne correspond (vérifiez {}).", "No member matches (check {}).";
    ErrWrongDirection => "Cette ligne du relevé va dans l'autre sens (un crédit pour un virement sortant, ou l'inverse).", "This bank line goes the other way (a credit for an outgoing transfer, or the reverse).";
    ErrAmountMismatch => "Le montant de la ligne du relevé ne correspond pas à celui du règlement.", "The bank line's amount does not match the settlement's.";
    ErrSettlementLineNotFound => "Aucune ligne de règlement n'a cette référence (EndToEndId).", "No settlement line has this reference (EndToEndId).";
    ErrDatabaseUnavailable => "La base de données ne répond pas : réessayez dans un instant.", "The database does not answer: try again in a moment.";
    // Fields, in the reader's words (web::problem::field_words)
    FieldGeneric => "ce champ", "this field";
    FieldAmount => "le montant", "the amount";
    FieldIban => "l'IBAN", "the IBAN";
    FieldBic => "le BIC", "the BIC";
    FieldSiret => "le SIRET", "the SIRET";
    FieldDate => "la date", "the date";
    FieldPeriod => "la période", "the period";
    FieldCutoff => "la date limite", "the cutoff";
    FieldEmail => "l'adresse e-mail", "the email address";
    FieldPassword => "le mot de passe (10 caractères au moins)", "the password (at least 10 characters)";
    FieldPasswordConfirmation => "la confirmation du mot de passe (les deux doivent être identiques)", "the password confirmation (both must be the same)";
    FieldRole => "le rôle", "the role";
    FieldMember => "l'adhérent", "the member";
    FieldPin => "le code PIN", "the PIN";
    FieldName => "le nom", "the name";
    FieldLegalName => "la raison sociale", "the legal name";
    FieldAddress => "l'adresse", "the address";
    FieldPhone => "le téléphone", "the phone number";
    FieldCategories => "les catégories", "the categories";
    FieldFundName => "le nom de la caisse", "the fund's name";
    FieldAllowance => "les montants d'allocation", "the allowance amounts";
    FieldBalanceCap => "le plafond du solde", "the balance cap";
    FieldScale => "le barème de cotisation", "the contribution scale";
    FieldCriteria => "les critères de conventionnement", "the approval criteria";
    FieldPinAttempts => "le nombre de codes PIN faux avant blocage", "the number of wrong PINs before lock";
    FieldAdults => "le nombre d'adultes", "the number of adults";
    FieldChildren => "le nombre d'enfants", "the number of children";
    FieldIncome => "le revenu mensuel", "the monthly income";
    FieldChosenContribution => "la cotisation choisie", "the chosen contribution";
    FieldMethod => "le moyen de paiement", "the payment method";
    FieldReference => "la référence", "the reference";
    FieldReason => "le motif", "the reason";
    FieldLabel => "le nom de la caisse de commerce", "the till's name";
    FieldSettlementLine => "la référence de la ligne de règlement", "the settlement line's reference";
    FieldToken => "le code de la carte", "the card's code";
    FieldChoice => "le vote", "the vote";
    FieldComment => "le commentaire", "the comment";
    FieldCardKind => "le type de carte", "the card kind";
    FieldDecision => "la décision", "the decision";
    // Admin
    AdminTitle => "Administration", "Administration";
    Settings => "Règles de la caisse", "Fund rules";
    FundName => "Nom de la caisse", "Fund name";
    FirstPerson => "Allocation : première personne (€)", "Allowance: first person (€)";
    AdditionalAdult => "Allocation : par adulte en plus (€)", "Allowance: per additional adult (€)";
    Child => "Allocation : par enfant de moins de 14 ans (€)", "Allowance: per child under 14 (€)";
    BalanceCap => "Plafond du solde (€, vide = aucun)", "Balance cap (€, empty = none)";
    PinAttempts => "Codes PIN faux avant blocage", "Wrong PINs before lock";
    ScaleJson => "Barème de cotisation (JSON)", "Contribution scale (JSON)";
    CriteriaJson => "Critères de conventionnement (JSON)", "Approval criteria (JSON)";
    Save => "Enregistrer", "Save";
    Users => "Utilisateurs", "Users";
    PeopleTitle => "Les personnes qui se connectent", "People who sign in";
    InviteTitle => "Inviter une personne", "Invite someone";
    InviteHelpMail => "La personne reçoit par e-mail un lien pour choisir son mot de passe ; il marche 7 jours, une seule fois.",
        "The person gets a link by email to choose their password; it works for 7 days, once.";
    InviteHelpNoMail => "La caisse n'envoie pas d'e-mails : après l'invitation, cette page affiche un lien à donner à la personne (il marche 7 jours, une seule fois) pour qu'elle choisisse son mot de passe.",
        "This fund sends no email: after the invitation this page shows a link to give the person (it works for 7 days, once) so that they choose their password.";
    InviteMember => "Numéro d'adhérent ou référence de paiement (pour un·e adhérent·e)", "Member number or payment reference (for a member)";
    InviteMemberHelp => "Par exemple 12 ou CAISSE-0012. Laissez vide pour le comité, la trésorerie ou l'administration.",
        "For example 12 or CAISSE-0012. Leave empty for the committee, the treasurer or an admin.";
    InviteSend => "Inviter", "Invite";
    Since => "Depuis le", "Since";
    NewPasswordLink => "Mot de passe oublié", "Forgotten password";
    NewPasswordLinkMake => "Faire un lien", "Make a link";
    NewPasswordLinkFor => "Faire un lien de nouveau mot de passe pour {}", "Make a new-password link for {}";
    LinkSent => "Lien envoyé par e-mail à {}.", "Link sent by email to {}.";
    LinkHandOverInvitation => "Invitation créée pour {}. Donnez-lui ce lien (par SMS, sur papier…) : il lui permet de choisir son mot de passe.",
        "Invitation made for {}. Give them this link (by text message, on paper…): it lets them choose their password.";
    LinkHandOverReset => "Lien de nouveau mot de passe pour {}. Donnez-lui ce lien : l'ancien mot de passe marche jusqu'à ce qu'il serve.",
        "New-password link for {}. Give them this link: the old password works until it is used.";
    LinkToHandOver => "Lien à donner", "Link to hand over";
    Role => "Rôle", "Role";
    MemberId => "Identifiant d'adhérent (rôle adhérent)", "Member id (member role)";
    CreateUser => "Créer l'utilisateur", "Create the user";
    UserCreated => "Utilisateur créé : {}", "User created: {}";
    Shops => "Commerces et caisses", "Shops and tills";
    Approve => "Conventionner", "Approve";
    Reject => "Refuser", "Reject";
    TerminalLabel => "Nom de la nouvelle caisse", "New till's name";
    AddTerminal => "Ajouter une caisse", "Add a till";
    TerminalKeyOnce => "Clé de la caisse « {} » — notez-la maintenant, elle ne sera plus jamais affichée :",
        "Key of till “{}” — copy it now, it will never be shown again:";
    RoleAdmin => "administration", "admin";
    RoleTreasurer => "trésorerie", "treasurer";
    RoleCommittee => "comité", "committee";
    RoleMember => "adhérent", "member";
    StatusPending => "en attente", "pending";
    StatusApproved => "conventionné", "approved";
    StatusRejected => "refusé", "rejected";
    StatusSuspended => "suspendu", "suspended";
    Access => "Accès", "Access";
    You => "vous", "you";
    RoleOf => "Rôle de {}", "Role of {}";
    RoleChange => "Changer", "Change";
    RoleChangeFor => "Changer le rôle de {}", "Change the role of {}";
    RoleConfirmTitle => "Changer le rôle de {} ?", "Change the role of {}?";
    RoleConfirmText => "{} aura le rôle « {} » au lieu de « {} », dès sa prochaine page ; ses sessions restent ouvertes.",
        "{} will have the role “{}” instead of “{}”, from their next page; their sessions stay open.";
    RoleConfirm => "Oui, changer le rôle", "Yes, change the role";
    BackToPeople => "Annuler et revenir à la liste", "Cancel and go back to the list";
    RoleChanged => "{} a maintenant le rôle « {} ».", "{} now has the role “{}”.";
    RoleUnchanged => "{} a déjà le rôle « {} » : rien n'a changé.", "{} already has the role “{}”: nothing changed.";
    MemberRoleFixed => "lié à son adhérent", "tied to their member";
    Disable => "Désactiver", "Disable";
    DisableWhat => "{} ne pourra plus se connecter ; ses sessions ouvertes sont fermées.",
        "{} will no longer be able to sign in; their open sessions are closed.";
    DisableConfirm => "Oui, désactiver", "Yes, disable";
    DisableConfirmFor => "Oui, désactiver {}", "Yes, disable {}";
    DisabledDone => "{} est désactivé·e : ses sessions ouvertes sont fermées.", "{} is disabled: their open sessions are closed.";
    Enable => "Réactiver", "Enable";
    EnableWhat => "{} pourra de nouveau se connecter avec son mot de passe.", "{} will be able to sign in again with their password.";
    EnableConfirm => "Oui, réactiver", "Yes, enable";
    EnableConfirmFor => "Oui, réactiver {}", "Yes, enable {}";
    EnabledDone => "{} peut de nouveau se connecter.", "{} can sign in again.";
    DisabledSince => "désactivé·e depuis le {}", "disabled since {}";
    // The member import (issue 15, point 2)
    ImportTitle => "Importer des adhérent·es", "Import members";
    ImportLink => "Importer une liste d'adhérent·es (tableur)", "Import a member list (spreadsheet)";
    ImportIntro => "Choisissez un fichier CSV, LibreOffice (.ods) ou Excel (.xlsx, .xls) : une ligne d'en-tête, puis une ligne par adhérent·e. Colonnes reconnues : nom, prénom, adultes, enfants (moins de 14 ans), revenu, cotisation choisie, email, téléphone, date d'adhésion. Les autres colonnes sont ignorées. Rien n'est créé avant votre confirmation.",
        "Choose a CSV, LibreOffice (.ods) or Excel (.xlsx, .xls) file: a header line, then one line per member. Columns read: name, first name, adults, children (under 14), income, chosen contribution, email, phone, date of joining. Other columns are ignored. Nothing is created before you confirm.";
    ImportFile => "Fichier", "File";
    ImportCheck => "Vérifier le fichier", "Check the file";
    ImportNoScript => "Cette page lit le fichier dans le navigateur : activez JavaScript.", "This page reads the file in the browser: enable JavaScript.";
    ImportNoFile => "Choisissez d'abord un fichier.", "Choose a file first.";
    ImportReport => "Vérification de « {} »", "Check of “{}”";
    ImportSummary => "{} ligne(s) prête(s), {} ligne(s) avec un problème.", "{} line(s) ready, {} line(s) with a problem.";
    ImportIgnored => "Colonnes ignorées : {}", "Ignored columns: {}";
    ImportFixFirst => "Corrigez les lignes signalées dans le fichier puis vérifiez-le à nouveau : l'import crée tout ou rien.",
        "Fix the lines marked in the file, then check it again: the import creates everything or nothing.";
    ImportConfirm => "Importer les {} adhérent·es", "Import the {} members";
    ImportDone => "{} adhérent·es importé·es (numéros {} à {}).", "{} members imported (numbers {} to {}).";
    ImportNothing => "Le fichier ne contient aucune ligne d'adhérent·e.", "The file has no member line.";
    ImportRefused => "Rien n'a été importé : {} ligne(s) ont un problème.", "Nothing was imported: {} line(s) have a problem.";
    ImportLine => "Ligne", "Line";
    ImportHousehold => "Foyer", "Household";
    ImportOutcome => "Résultat", "Result";
    ImportHouseholdIs => "{} adulte(s), {} enfant(s)", "{} adult(s), {} child(ren)";
    ImportWillCreate => "sera créé·e — cotisation {}, allocation {} par mois", "will be created — contribution {}, allowance {} a month";
    ImportTooLarge => "Le fichier dépasse {} Mo : découpez-le.", "The file is larger than {} MB: split it.";
    ImportTooManyRows => "Le fichier a plus de {} lignes : découpez-le.", "The file has more than {} lines: split it.";
    ImportUnreadable => "Ce fichier n'est ni un CSV ni un tableur lisible (.ods, .xlsx, .xls).", "This file is neither a CSV nor a readable spreadsheet (.ods, .xlsx, .xls).";
    ImportEmpty => "Le fichier est vide.", "The file is empty.";
    ImportNoNameColumn => "Aucune colonne « nom » (ou « name ») dans la ligne d'en-tête.", "No “name” (or “nom”) column in the header line.";
    ImportDuplicateColumn => "La colonne « {} » apparaît deux fois.", "The column “{}” appears twice.";
    ImportUnclosedQuote => "Un guillemet n'est pas refermé à partir de la ligne {}.", "A quote is not closed from line {}.";
    ProblemMissing => "{} manque", "{} is missing";
    ProblemNotACount => "{} : un nombre entier est attendu", "{}: a whole number is expected";
    ProblemNotAnAmount => "{} : un montant en euros est attendu (1\u{a0}234,50)", "{}: an amount in euros is expected (1234.50)";
    ProblemNotADate => "{} : une date JJ/MM/AAAA est attendue", "{}: a date DD/MM/YYYY is expected";
    ProblemRefused => "{} : valeur refusée par les règles de la caisse", "{}: value refused by the fund's rules";
    ProblemDuplicate => "{} : même personne qu'à la ligne {}", "{}: same person as on line {}";
    ProblemAlreadyMember => "{} : déjà adhérent·e (numéro {})", "{}: already a member (number {})";
    FieldFirstName => "le prénom", "the first name";
    FieldJoinedOn => "la date d'adhésion", "the date of joining";
}
